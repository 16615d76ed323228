#!/usr/bin/env python3
"""Checks the Function CRD the way an API server would use it, without one.

1. Structure: the schema is structural (every node typed), every field has a description (so
   `kubectl explain fn.spec.memoryMB` is useful), every list, map and string under spec is
   bounded (so CEL rules stay within the server's cost budget), and every default validates
   against its own schema.
2. Admission: a table of Function objects (the shipped examples, the documented example, and
   one object per rule it must break) is defaulted and validated against the schema (type,
   enum, bounds, lengths, patterns, required fields, unknown fields), and every
   x-kubernetes-validations rule is evaluated with a real CEL evaluator (cel_eval.mjs, which
   needs the npm package @bufbuild/cel; its folder is the second argument).

Usage: crd_check.py CRD_YAML CEL_MODULES_DIR EXAMPLE_YAML...
Prints one line per case and "N passed, M failed"; exits non-zero on any failure.
"""
import copy
import json
import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# Structure


def walk(schema, path):
    """Yields (path, schema) for every node of an OpenAPI schema."""
    yield path, schema
    for name, prop in (schema.get("properties") or {}).items():
        yield from walk(prop, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}[*]")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def structure_errors(crd):
    errors = []
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
        errors.append("not an apiextensions.k8s.io/v1 CustomResourceDefinition")
    spec = crd["spec"]
    want = {
        "metadata.name": (crd["metadata"]["name"], "functions.wisp.dev"),
        "group": (spec["group"], "wisp.dev"),
        "scope": (spec["scope"], "Namespaced"),
        "kind": (spec["names"]["kind"], "Function"),
        "plural": (spec["names"]["plural"], "functions"),
        "singular": (spec["names"]["singular"], "function"),
        "shortNames": (spec["names"].get("shortNames"), ["fn"]),
        "categories": (spec["names"].get("categories"), ["wisp"]),
    }
    for what, (got, expected) in want.items():
        if got != expected:
            errors.append(f"{what} is {got!r}, want {expected!r}")
    versions = spec["versions"]
    if [v["name"] for v in versions] != ["v1alpha1"]:
        errors.append("want exactly one version, v1alpha1")
    v = versions[0]
    if not (v.get("served") and v.get("storage")):
        errors.append("v1alpha1 must be served and the storage version")
    sub = v.get("subresources", {})
    if sub.get("status") != {}:
        errors.append("status subresource missing")
    if sub.get("scale") != {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector"}:
        errors.append(f"scale subresource is {sub.get('scale')!r}")
    columns = {c["name"]: c for c in v.get("additionalPrinterColumns", [])}
    for name, path in [("Ready", '.status.conditions[?(@.type=="Ready")].status'),
                       ("Replicas", ".status.replicas"), ("URL", ".status.url"),
                       ("Age", ".metadata.creationTimestamp")]:
        if columns.get(name, {}).get("jsonPath") != path:
            errors.append(f"printer column {name} should show {path}")

    root = v["schema"]["openAPIV3Schema"]
    for path, node in walk(root, "fn"):
        if path == "fn.metadata":
            if set(node) != {"type"}:
                errors.append("fn.metadata may only say type: object")
            continue
        if "type" not in node:
            errors.append(f"{path}: no type (the schema must be structural)")
        # Every named field is described; map values and list items inherit their parent's.
        if not path.endswith(("[*]", "[]")) and not node.get("description"):
            errors.append(f"{path}: no description")
        under_spec = path.startswith("fn.spec")
        t = node.get("type")
        if under_spec and t == "string" and "maxLength" not in node and "enum" not in node:
            errors.append(f"{path}: a string without maxLength or enum")
        if under_spec and t == "array" and "maxItems" not in node:
            errors.append(f"{path}: a list without maxItems")
        if under_spec and t == "object" and "additionalProperties" in node and "maxProperties" not in node:
            errors.append(f"{path}: a map without maxProperties")
        for rule in node.get("x-kubernetes-validations", []):
            if not rule.get("message"):
                errors.append(f"{path}: CEL rule without a message: {rule.get('rule')}")
        if "default" in node:
            default = copy.deepcopy(node["default"])
            apply_defaults(node, default)
            for e in schema_errors(node, default, path):
                errors.append(f"{path}: the default is invalid: {e}")
    return errors


# ---------------------------------------------------------------------------------------------
# Defaulting and schema validation, as the API server does them before CEL rules run.


def apply_defaults(schema, value):
    """Fills absent fields that have a default, recursively (also inside defaulted values)."""
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                apply_defaults(prop, value[name])
        if isinstance(schema.get("additionalProperties"), dict):
            for k in value:
                apply_defaults(schema["additionalProperties"], value[k])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(schema["items"], item)


def type_ok(t, value):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    return False


def schema_errors(schema, value, path):
    errors = []
    t = schema.get("type")
    if t and not type_ok(t, value):
        return [f"{path}: must be of type {t}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if t == "integer" or t == "number":
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if t == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if t == "array":
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if schema.get("x-kubernetes-list-type") == "set" and len(set(map(json.dumps, value))) != len(value):
            errors.append(f"{path}: duplicate items in a set")
        for i, item in enumerate(value):
            errors += schema_errors(schema.get("items", {}), item, f"{path}[{i}]")
    if t == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(f"{path}: more than {schema['maxProperties']} properties")
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}.{name}: Required value")
        for name, v in value.items():
            if props is not None and name in props:
                errors += schema_errors(props[name], v, f"{path}.{name}")
            elif isinstance(extra, dict):
                errors += schema_errors(extra, v, f"{path}[{name}]")
            elif props is not None:
                # The server would prune it silently; in a manifest it is a mistake.
                errors.append(f"{path}.{name}: unknown field")
    return errors


# ---------------------------------------------------------------------------------------------
# The admission table


def function(name="hello", **spec):
    base = {"runtime": "python3.11", "handler": "app.handler",
            "code": {"inline": "def handler(event, context):\n    return event\n"}}
    base.update(spec)
    return {"apiVersion": "wisp.dev/v1alpha1", "kind": "Function",
            "metadata": {"name": name, "namespace": "default"}, "spec": base}


def without(obj, *keys):
    obj = copy.deepcopy(obj)
    for k in keys:
        obj["spec"].pop(k, None)
    return obj


def http(path, methods=None):
    t = {"path": path}
    if methods is not None:
        t["methods"] = methods
    return {"http": t}


DOC_EXAMPLE = function(memoryMB=128, timeoutSeconds=3, triggers=[http("/hello", ["GET", "POST"])])

# (name, object, substring of the expected error or None when the object must be accepted)
CASES = [
    ("documented example", DOC_EXAMPLE, None),
    ("provided runtime needs no handler",
     without(function(runtime="provided", code={"inline": "#!/bin/sh\n", "fileName": "bootstrap"}), "handler"),
     None),
    ("code from a ConfigMap", function(code={"configMap": {"name": "hello-code"}}), None),
    ("code from an image", without(function(image="registry.example/hello:1"), "code"), None),
    ("every field at its bound", function(
        memoryMB=10240, timeoutSeconds=900, ephemeralStorageMB=10240,
        environment={"K" * 100: "v" * 3996},
        layers=[{"configMap": {"name": f"l{i}"}} for i in range(4)] + [{"image": "x/y:1"}],
        concurrency={"perInstance": 1000, "reserved": 1000},
        scaling={"minScale": 3, "maxScale": 3, "target": 1000, "scaleToZeroAfterSeconds": 86400},
        async_={}, triggers=[http("/"), http("/users/{id}/files/{proxy+}", ["GET"]),
                             {"queue": {"stream": "orders", "batchSize": 10000, "batchWindowSeconds": 300}},
                             {"schedule": {"expression": "rate(5 minutes)"}},
                             {"schedule": {"expression": "cron(0 12 * * ? *)"}},
                             {"schedule": {"expression": "*/5 * * * *"}}]), None),
    ("name of 63 characters", function(name="a" * 63), None),
    ("async destinations", function(**{"async": {"maxRetries": 0, "maxEventAgeSeconds": 60,
                                                 "onFailure": {"stream": "hello-dlq"},
                                                 "onSuccess": {"function": "audit"}}}), None),
    ("scale pinned by kubectl scale", function(replicas=3), None),

    ("no code", without(function(), "code"), "exactly one of spec.code.inline, spec.code.configMap or spec.image"),
    ("code and image", function(image="x/y:1"), "exactly one of spec.code.inline, spec.code.configMap or spec.image"),
    ("inline and configMap", function(code={"inline": "x", "configMap": {"name": "c"}}),
     "exactly one of spec.code.inline and spec.code.configMap"),
    ("empty code", function(code={}), "exactly one of spec.code.inline and spec.code.configMap"),
    ("fileName with a ConfigMap", function(code={"configMap": {"name": "c"}, "fileName": "app.py"}),
     "spec.code.fileName is only allowed with spec.code.inline"),
    ("fileName with a folder", function(code={"inline": "x", "fileName": "../app.py"}), "fileName"),
    ("inline code over 256 KiB in bytes", function(code={"inline": "\u00e9" * 131073}), "at most 256 KiB"),
    ("inline code over 256 Ki characters", function(code={"inline": "x" * 262145}), "spec.code.inline: longer"),
    ("python without a handler", without(function(), "handler"), "spec.handler is required"),
    ("handler with a space", function(handler="app handler"), "spec.handler"),
    ("handler over 128 characters", function(handler="a" * 129), "spec.handler"),
    ("unknown runtime", function(runtime="java21"), "spec.runtime"),
    ("no runtime", without(function(), "runtime"), "spec.runtime: Required value"),
    ("memory below 128", function(memoryMB=64), "spec.memoryMB: 64 is below the minimum 128"),
    ("memory above 10240", function(memoryMB=10241), "spec.memoryMB: 10241 is above the maximum"),
    ("timeout 0", function(timeoutSeconds=0), "spec.timeoutSeconds"),
    ("timeout above 900", function(timeoutSeconds=901), "spec.timeoutSeconds"),
    ("ephemeral storage below 512", function(ephemeralStorageMB=511), "spec.ephemeralStorageMB"),
    ("environment over 4096 bytes", function(environment={"K" * 100: "v" * 3997}), "over 4 KB"),
    ("environment over 4096 bytes in UTF-8", function(environment={"K": "\u00e9" * 2048}), "over 4 KB"),
    ("reserved environment variable", function(environment={"AWS_REGION": "x"}), "reserved by the platform"),
    ("reserved _HANDLER", function(environment={"_HANDLER": "x"}), "reserved by the platform"),
    ("six layers", function(layers=[{"image": "x"}] * 6), "spec.layers: more than 5"),
    ("layer with both", function(layers=[{"image": "x", "configMap": {"name": "c"}}]), "exactly one of configMap and image"),
    ("perInstance 0", function(concurrency={"perInstance": 0}), "spec.concurrency.perInstance"),
    ("reserved above 1000", function(concurrency={"reserved": 1001}), "spec.concurrency.reserved"),
    ("maxScale below minScale", function(scaling={"minScale": 5, "maxScale": 4}), "maxScale must be at least"),
    ("minScale above the default maxScale", function(scaling={"minScale": 101}), "maxScale must be at least"),
    ("maxScale 0", function(scaling={"maxScale": 0}), "spec.scaling.maxScale"),
    ("target above perInstance", function(scaling={"target": 2}), "must not exceed spec.concurrency.perInstance"),
    ("target above an explicit perInstance", function(concurrency={"perInstance": 4}, scaling={"target": 5}),
     "must not exceed spec.concurrency.perInstance"),
    ("scaleToZeroAfter below 30", function(scaling={"scaleToZeroAfterSeconds": 29}), "scaleToZeroAfterSeconds"),
    ("maxRetries 3", function(**{"async": {"maxRetries": 3}}), "spec.async.maxRetries"),
    ("event age below 60", function(**{"async": {"maxEventAgeSeconds": 59}}), "spec.async.maxEventAgeSeconds"),
    ("destination with both", function(**{"async": {"onFailure": {"stream": "s", "function": "f"}}}),
     "onFailure sets exactly one"),
    ("trigger with two kinds", function(triggers=[{"http": {"path": "/a"}, "schedule": {"expression": "rate(1 minute)"}}]),
     "exactly one of http, queue and schedule"),
    ("empty trigger", function(triggers=[{}]), "exactly one of http, queue and schedule"),
    ("path without a slash", function(triggers=[http("hello")]), "spec.triggers[0].http.path"),
    ("proxy+ not last", function(triggers=[http("/a/{proxy+}/b")]), "spec.triggers[0].http.path"),
    ("unknown method", function(triggers=[http("/a", ["FETCH"])]), "spec.triggers[0].http.methods[0]"),
    ("duplicate method", function(triggers=[http("/a", ["GET", "GET"])]), "duplicate"),
    ("batch size 0", function(triggers=[{"queue": {"stream": "q", "batchSize": 0}}]), "batchSize"),
    ("batch window above 300", function(triggers=[{"queue": {"stream": "q", "batchWindowSeconds": 301}}]),
     "batchWindowSeconds"),
    ("queue without a stream", function(triggers=[{"queue": {}}]), "stream: Required value"),
    ("bad schedule", function(triggers=[{"schedule": {"expression": "every day"}}]), "expression"),
    ("name with capitals", function(name="Hello"), "DNS-1035 label"),
    ("name of 64 characters", function(name="a" * 64), "DNS-1035 label"),
    ("name with a dot", function(name="a.b"), "DNS-1035 label"),
    ("name starting with a digit", function(name="1hello"), "DNS-1035 label"),
    ("typo in a field", function(memoryMb=256), "spec.memoryMb: unknown field"),
]


def fix_async(obj):
    # `async` is a Python keyword: the table spells it async_ where it is passed as a keyword.
    if "async_" in obj["spec"]:
        obj["spec"]["async"] = obj["spec"].pop("async_")
    return obj


def main():
    crd_path, cel_dir, examples = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(crd_path) as f:
        crd = yaml.safe_load(f)
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    passed = failed = 0

    for e in structure_errors(crd):
        print(f"FAIL structure: {e}")
        failed += 1
    if not failed:
        print("ok   structure: typed, described, bounded, valid defaults")
        passed += 1

    cases = [(n, fix_async(copy.deepcopy(o)), w) for n, o, w in CASES]
    for path in examples:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc.get("kind") == "Function":
                    cases.append((f"{os.path.basename(path)}: {doc['metadata']['name']}", doc, None))

    objects = []
    schema_results = []
    for name, obj, want in cases:
        obj = copy.deepcopy(obj)
        apply_defaults(root, obj)
        # The server validates metadata itself; the schema sees only the fields it declares.
        errs = schema_errors({**root, "properties": {k: v for k, v in root["properties"].items() if k != "metadata"}},
                             {k: v for k, v in obj.items() if k != "metadata"}, "fn")
        schema_results.append([e[3:] if e.startswith("fn.") else e for e in errs])
        objects.append(obj)

    request = json.dumps({"schema": root, "objects": objects})
    proc = subprocess.run(["node", os.path.join(HERE, "cel_eval.mjs"), cel_dir], input=request,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"FAIL cel_eval.mjs: {proc.stderr.strip()}")
        print(f"{passed} passed, {failed + 1} failed")
        return 1
    cel_results = json.loads(proc.stdout)

    for (name, _, want), serrs, cerrs in zip(cases, schema_results, cel_results):
        errors = serrs + cerrs
        if want is None:
            ok = not errors
            detail = "; ".join(errors)
        else:
            ok = any(want in e for e in errors)
            detail = f"want an error containing {want!r}, got {errors}"
        if ok:
            passed += 1
            print(f"ok   {name}" + (f"  ({errors[0]})" if errors else ""))
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
