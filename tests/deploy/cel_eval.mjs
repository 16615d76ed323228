// Evaluates a CRD schema's x-kubernetes-validations rules against objects, as the API server
// does after defaulting: each rule runs with `self` bound to the value at its node, for every
// node present in the object. Uses @bufbuild/cel (a conformant CEL evaluator) plus the Kubernetes
// list function the rules use (sum).
//
// Usage: node cel_eval.mjs CEL_MODULES_DIR < {"schema": {...}, "objects": [...]}
// Prints a JSON array with, for each object, the list of failed rules as "<path>: <message>".
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(path.resolve(process.argv[2]) + "/");
const { celEnv, celMethod, isCelError, listType, parse, plan, CelScalar } = require("@bufbuild/cel");

// Kubernetes' lists library: <list<int>>.sum().
const sumInt = celMethod("sum", listType(CelScalar.INT), [], CelScalar.INT, function () {
  let total = 0n;
  for (const v of this) total += v;
  return total;
});
const env = celEnv({ funcs: [sumInt] });
const compiled = new Map();
function compile(rule) {
  if (!compiled.has(rule)) compiled.set(rule, plan(env, parse(rule)));
  return compiled.get(rule);
}

// JSON -> CEL values, typed by the schema: objects and maps become CEL maps, integers int.
function toCel(schema, value) {
  if (value === null || value === undefined) return value;
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (typeof value === "object") {
    const m = new Map();
    for (const [k, v] of Object.entries(value)) {
      const sub = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined);
      m.set(k, toCel(sub, v));
    }
    return m;
  }
  if (typeof value === "number" && schema?.type === "integer") return BigInt(value);
  return value;
}

function check(schema, value, where, errors, isRoot) {
  if (value === undefined || value === null || schema === undefined) return;
  for (const v of schema["x-kubernetes-validations"] ?? []) {
    let self = toCel(schema, value);
    if (isRoot) {
      // At a resource's root, rules see metadata.name and metadata.generateName.
      const meta = new Map();
      if (value.metadata?.name !== undefined) meta.set("name", value.metadata.name);
      if (value.metadata?.generateName !== undefined) meta.set("generateName", value.metadata.generateName);
      self.set("metadata", meta);
    }
    const result = compile(v.rule)({ self });
    if (isCelError(result)) errors.push(`${where}: rule error ${result.message}: ${v.rule}`);
    else if (result !== true) errors.push(`${where}: ${v.message}`);
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => check(schema.items, item, `${where}[${i}]`, errors, false));
  } else if (typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (isRoot && k === "metadata") continue;
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      check(sub, v, where ? `${where}.${k}` : k, errors, false);
    }
  }
}

const { schema, objects } = JSON.parse(readFileSync(0, "utf8"));
const out = objects.map((obj) => {
  const errors = [];
  check(schema, obj, "", errors, true);
  return errors.map((e) => e.replace(/^: /, ""));
});
process.stdout.write(JSON.stringify(out) + "\n");
