#!/usr/bin/env python3
"""Keeps deploy/*.yaml (plain manifests) the same objects as the Helm chart renders.

  manifests.py generate RENDERED DEPLOY_DIR   writes deploy/NN-*.yaml from `helm template` output
  manifests.py compare  RENDERED DEPLOY_DIR   checks deploy/*.yaml against it, object by object

RENDERED is `helm template wisp charts/wisp --namespace wisp-system --set createNamespace=true`.
The plain manifests are that output without Helm's own marks: the labels
app.kubernetes.io/managed-by and helm.sh/chart, and the checksum/* pod annotations (which only
roll pods when Helm changes the config). Generation works on the text, so the chart's comments
carry over.
"""
import os
import re
import sys

import yaml

# Output files, in the order `kubectl apply -f deploy/` takes them: (file, header, predicate).
FILES = [
    ("00-namespace.yaml", "The namespace Wisp runs in.",
     lambda kind, comp: kind == "Namespace"),
    ("10-config.yaml", "Configuration for the gateway and the operator. For an external Redis, set\n"
                       "# WISP_REDIS_URL here and leave out 50-redis.yaml (see deploy/README.md).",
     lambda kind, comp: kind == "ConfigMap"),
    ("20-rbac.yaml", "Service accounts and least-privilege RBAC: the operator's ClusterRole and\n"
                     "# leader-election Role; the gateway has no Kubernetes permissions at all.",
     lambda kind, comp: kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")),
    ("30-operator.yaml", "The operator: 2 replicas, leader election by a Lease.",
     lambda kind, comp: comp == "operator"),
    ("40-gateway.yaml", "The gateway: 2 replicas spread over nodes, a PodDisruptionBudget.",
     lambda kind, comp: comp == "gateway"),
    ("50-redis.yaml", "Redis for async invocations and queues: AOF with appendfsync always, on a\n"
                      "# volume. Leave this file out when WISP_REDIS_URL points at an external Redis.",
     lambda kind, comp: comp == "redis"),
]

HELM_LINE = re.compile(r"^\s*(app\.kubernetes\.io/managed-by: Helm|helm\.sh/chart: \S+|checksum/\S+: \S+)\s*$")


def split_documents(text):
    docs = []
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        lines = [l for l in chunk.splitlines() if not l.startswith("# Source: ")]
        body = "\n".join(lines).strip("\n")
        if yaml.safe_load(body) is not None:
            docs.append(body)
    return docs


def strip_helm(body):
    lines = [l for l in body.splitlines() if not HELM_LINE.match(l)]
    out = []
    for i, line in enumerate(lines):
        # An `annotations:` left with nothing under it goes too.
        if line.strip() == "annotations:":
            indent = len(line) - len(line.lstrip())
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if len(nxt) - len(nxt.lstrip()) <= indent:
                continue
        out.append(line)
    return "\n".join(out)


def component(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")


def generate(rendered, deploy_dir):
    buckets = {name: [] for name, _, _ in FILES}
    for body in split_documents(rendered):
        obj = yaml.safe_load(body)
        for name, _, pred in FILES:
            if pred(obj["kind"], component(obj)):
                buckets[name].append(strip_helm(body))
                break
        else:
            raise SystemExit(f"no file for {obj['kind']}/{obj['metadata']['name']}")
    for name, header, _ in FILES:
        text = (f"# {header}\n#\n# Generated from charts/wisp by tests/deploy/manifests.py (see deploy/README.md):\n"
                "# edit the chart, then regenerate; tests/deploy/chart_test.sh checks that they agree.\n---\n")
        text += "\n---\n".join(buckets[name]) + "\n"
        with open(os.path.join(deploy_dir, name), "w") as f:
            f.write(text)
        print(f"wrote {os.path.join(deploy_dir, name)} ({len(buckets[name])} objects)")


def normalize(obj):
    """Drops Helm's marks from a parsed object, in place."""
    def clean(meta):
        if not meta:
            return
        for key in ("labels", "annotations"):
            d = meta.get(key) or {}
            for k in list(d):
                if k in ("app.kubernetes.io/managed-by", "helm.sh/chart") or k.startswith("checksum/"):
                    del d[k]
            if key in meta and not d:
                del meta[key]
    clean(obj.get("metadata"))
    template = (obj.get("spec") or {}).get("template")
    if template:
        clean(template.get("metadata"))
    return obj


def key(obj):
    m = obj["metadata"]
    return (obj["kind"], m.get("namespace", ""), m["name"])


def compare(rendered, deploy_dir):
    want = {key(o): normalize(o) for o in (yaml.safe_load(b) for b in split_documents(rendered))}
    got = {}
    for name in sorted(os.listdir(deploy_dir)):
        if name.endswith(".yaml"):
            with open(os.path.join(deploy_dir, name)) as f:
                for o in yaml.safe_load_all(f):
                    if o is not None:
                        got[key(normalize(o))] = o
    errors = []
    for k in sorted(set(want) | set(got)):
        if k not in got:
            errors.append(f"{k} is in the chart but not in {deploy_dir}")
        elif k not in want:
            errors.append(f"{k} is in {deploy_dir} but not in the chart")
        elif want[k] != got[k]:
            errors.append(f"{k} differs between the chart and {deploy_dir}")
    expected_files = [name for name, _, _ in FILES]
    present = sorted(n for n in os.listdir(deploy_dir) if n.endswith(".yaml"))
    if present != expected_files:
        errors.append(f"{deploy_dir} holds {present}, want {expected_files}")
    for e in errors:
        print(f"FAIL {e}")
    if not errors:
        print(f"{len(want)} objects agree")
    return 1 if errors else 0


if __name__ == "__main__":
    mode, rendered_path, deploy_dir = sys.argv[1:4]
    with open(rendered_path) as f:
        rendered = f.read()
    if mode == "generate":
        generate(rendered, deploy_dir)
    else:
        sys.exit(compare(rendered, deploy_dir))
