#!/usr/bin/env python3
"""Asserts the facts the chart promises about what it renders, for one set of values.

Usage: render_check.py SCENARIO RENDERED_YAML
Scenarios: default, watch (watchNamespaces=[team-a, team-b]), external-redis
(redis.enabled=false, redis.url=redis://redis.example:6379/0), secret-redis
(redis.enabled=false, redis.existingSecret.name=wisp-redis-url).
Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
"""
import sys

import yaml

NS = "wisp-system"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""))


def load(path):
    with open(path) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def find(objs, kind, name=None, namespace=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def one(objs, kind, name, namespace=NS):
    found = find(objs, kind, name, namespace)
    return found[0] if len(found) == 1 else None


def container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


def env_value(c, name):
    for e in c.get("env", []):
        if e["name"] == name:
            return e
    return None


def common(c, objs):
    for o in objs:
        ns = o["metadata"].get("namespace")
        if o["kind"] in CLUSTER_SCOPED:
            c.check(f"{o['kind']}/{o['metadata']['name']} is cluster-scoped", ns is None)
        elif o["kind"] not in ("Role", "RoleBinding"):
            c.check(f"{o['kind']}/{o['metadata']['name']} is in {NS}", ns == NS, f"namespace {ns}")
        annotations = o["metadata"].get("annotations") or {}
        c.check(f"{o['kind']}/{o['metadata']['name']} uses no Helm hook", "helm.sh/hook" not in annotations)
        c.check(f"{o['kind']}/{o['metadata']['name']} is labelled part-of wisp",
                (o["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "wisp")

    # RBAC: no wildcards, no Secrets, nothing for the gateway.
    for o in find(objs, "ClusterRole") + find(objs, "Role"):
        for rule in o.get("rules", []):
            flat = rule.get("apiGroups", []) + rule.get("resources", []) + rule.get("verbs", [])
            c.check(f"{o['kind']}/{o['metadata']['name']} rule {rule.get('resources')} has no wildcard",
                    not any("*" in x for x in flat))
            c.check(f"{o['kind']}/{o['metadata']['name']} rule {rule.get('resources')} grants nothing on secrets or pods' subresources",
                    not any(r.split("/")[0] == "secrets" or r.startswith("pods/") for r in rule.get("resources", [])))
            # Pods: only reading and annotating them (pod-deletion-cost before a scale-down).
            if "pods" in rule.get("resources", []):
                c.check(f"{o['kind']}/{o['metadata']['name']} may only get and patch pods",
                        set(rule.get("verbs", [])) <= {"get", "patch"}, str(rule.get("verbs")))
            c.check(f"{o['kind']}/{o['metadata']['name']} rule {rule.get('resources')} has no escalation verbs",
                    not any(v in ("escalate", "bind", "impersonate") for v in rule.get("verbs", [])))
    for o in find(objs, "ClusterRoleBinding") + find(objs, "RoleBinding"):
        names = [s["name"] for s in o.get("subjects", [])]
        c.check(f"{o['kind']}/{o['metadata']['name']} binds only the operator", names == ["wisp-operator"], str(names))
    lease_role = one(objs, "Role", "wisp-operator-leader-election")
    c.check("leader election Role in wisp-system grants leases only",
            lease_role is not None and [r["resources"] for r in lease_role["rules"]] == [["leases"]]
            and lease_role["rules"][0]["apiGroups"] == ["coordination.k8s.io"])
    gw_sa = one(objs, "ServiceAccount", "wisp-gateway")
    c.check("gateway ServiceAccount mounts no token", gw_sa is not None and gw_sa.get("automountServiceAccountToken") is False)

    # Operator.
    op = one(objs, "Deployment", "wisp-operator")
    c.check("operator Deployment exists", op is not None)
    if op:
        oc = container(op)
        c.check("operator has 2 replicas", op["spec"]["replicas"] == 2)
        c.check("operator runs with leader election", "--leader_elect" in oc["args"], str(oc["args"]))
        c.check("operator image is wisp/operator:0.1.0", oc["image"] == "wisp/operator:0.1.0", oc["image"])
        c.check("operator is told every worker image",
                any(a.startswith("--worker_images=") and all(f"{r}=wisp/worker-{r}:0.1.0" in a
                                                             for r in ("python3.11", "nodejs20", "provided"))
                    for a in oc["args"]), str(oc["args"]))
        ports = {p["name"]: p["containerPort"] for p in oc["ports"]}
        c.check("operator serves metrics on 9101", ports.get("admin") == 9101, str(ports))
        c.check("operator liveness is /healthz", oc["livenessProbe"]["httpGet"]["path"] == "/healthz")
        c.check("operator readiness is /readyz", oc["readinessProbe"]["httpGet"]["path"] == "/readyz")
        c.check("operator runs as its ServiceAccount", op["spec"]["template"]["spec"]["serviceAccountName"] == "wisp-operator")
    # Gateway.
    gw = one(objs, "Deployment", "wisp-gateway")
    c.check("gateway Deployment exists", gw is not None)
    if gw:
        gc = container(gw)
        spec = gw["spec"]["template"]["spec"]
        c.check("gateway has 2 replicas", gw["spec"]["replicas"] == 2)
        c.check("gateway image is wisp/gateway:0.1.0", gc["image"] == "wisp/gateway:0.1.0", gc["image"])
        ports = {p["name"]: p["containerPort"] for p in gc["ports"]}
        c.check("gateway ports are http 8080 and admin 9102", ports == {"http": 8080, "admin": 9102}, str(ports))
        c.check("gateway pods mount no service-account token", spec.get("automountServiceAccountToken") is False)
        c.check("gateway pods spread over nodes",
                any(t["topologyKey"] == "kubernetes.io/hostname" for t in spec.get("topologySpreadConstraints", [])))
        c.check("gateway finds the operator", any("wisp-operator.wisp-system.svc:9100" in a for a in gc["args"]))
    # Restricted pod security for every workload.
    for o in find(objs, "Deployment") + find(objs, "StatefulSet"):
        spec = o["spec"]["template"]["spec"]
        psc = spec.get("securityContext", {})
        name = f"{o['kind']}/{o['metadata']['name']}"
        c.check(f"{name} runs as non-root with RuntimeDefault seccomp",
                psc.get("runAsNonRoot") is True and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault")
        for ct in spec["containers"] + spec.get("initContainers", []):
            sc = ct.get("securityContext", {})
            c.check(f"{name} container {ct['name']} is restricted",
                    sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"], str(sc))
            c.check(f"{name} container {ct['name']} requests resources",
                    bool(ct.get("resources", {}).get("requests")))
    # Disruption budgets.
    for name in ("wisp-gateway", "wisp-operator"):
        pdb = one(objs, "PodDisruptionBudget", name)
        c.check(f"PodDisruptionBudget {name} allows 1 unavailable", pdb is not None and pdb["spec"].get("maxUnavailable") == 1)
    for name in ("wisp-gateway", "wisp-operator"):
        svc = one(objs, "Service", name)
        c.check(f"Service {name} exists", svc is not None)


def check_default(c, objs):
    c.check("a ClusterRole for the operator", one(objs, "ClusterRole", "wisp-operator", None) is not None)
    cr = one(objs, "ClusterRole", "wisp-operator", None)
    if cr:
        resources = {r for rule in cr["rules"] for r in rule["resources"]}
        for want in ("functions", "functions/status", "functions/scale", "deployments", "deployments/scale",
                     "services", "configmaps", "poddisruptionbudgets", "endpointslices", "events"):
            c.check(f"the ClusterRole covers {want}", want in resources)
    c.check("no per-namespace operator Roles", not [r for r in find(objs, "Role") if r["metadata"]["name"] == "wisp-operator"])
    op = one(objs, "Deployment", "wisp-operator")
    c.check("operator watches every namespace", not any(a.startswith("--watch_namespaces") for a in container(op)["args"]))
    sts = one(objs, "StatefulSet", "wisp-redis")
    c.check("a Redis StatefulSet", sts is not None)
    if sts:
        args = " ".join(container(sts)["args"])
        c.check("Redis uses AOF with appendfsync always", "--appendonly yes" in args and "--appendfsync always" in args, args)
        c.check("Redis keeps its data on a volume", sts["spec"].get("volumeClaimTemplates", [{}])[0]["metadata"]["name"] == "data")
        c.check("Redis has 1 replica", sts["spec"]["replicas"] == 1)
    c.check("a Redis Service", one(objs, "Service", "wisp-redis") is not None)
    c.check("a NetworkPolicy guarding Redis", one(objs, "NetworkPolicy", "wisp-redis") is not None)
    cm = one(objs, "ConfigMap", "wisp-config")
    c.check("WISP_REDIS_URL points at the in-cluster Redis",
            cm is not None and cm["data"]["WISP_REDIS_URL"] == "redis://wisp-redis.wisp-system.svc:6379/0")


def check_watch(c, objs):
    c.check("no ClusterRole", not find(objs, "ClusterRole"))
    c.check("no ClusterRoleBinding", not find(objs, "ClusterRoleBinding"))
    for ns in ("team-a", "team-b"):
        c.check(f"an operator Role in {ns}", one(objs, "Role", "wisp-operator", ns) is not None)
        rb = one(objs, "RoleBinding", "wisp-operator", ns)
        c.check(f"an operator RoleBinding in {ns} for wisp-system/wisp-operator",
                rb is not None and rb["subjects"] == [{"kind": "ServiceAccount", "name": "wisp-operator", "namespace": NS}])
    op = one(objs, "Deployment", "wisp-operator")
    c.check("operator told which namespaces", "--watch_namespaces=team-a,team-b" in container(op)["args"])
    c.check("leader election stays in wisp-system", one(objs, "Role", "wisp-operator-leader-election") is not None)


def check_external_redis(c, objs):
    c.check("no Redis StatefulSet", not find(objs, "StatefulSet"))
    c.check("no Redis Service", one(objs, "Service", "wisp-redis") is None)
    c.check("no NetworkPolicy", not find(objs, "NetworkPolicy"))
    cm = one(objs, "ConfigMap", "wisp-config")
    c.check("WISP_REDIS_URL is the external URL", cm is not None and cm["data"]["WISP_REDIS_URL"] == "redis://redis.example:6379/0")
    for name in ("wisp-gateway", "wisp-operator"):
        e = env_value(container(one(objs, "Deployment", name)), "WISP_REDIS_URL")
        c.check(f"{name} reads WISP_REDIS_URL from the ConfigMap",
                e is not None and e["valueFrom"]["configMapKeyRef"] == {"name": "wisp-config", "key": "WISP_REDIS_URL"})


def check_secret_redis(c, objs):
    c.check("no Redis StatefulSet", not find(objs, "StatefulSet"))
    c.check("no ConfigMap (the URL is in a Secret)", not find(objs, "ConfigMap"))
    for name in ("wisp-gateway", "wisp-operator"):
        e = env_value(container(one(objs, "Deployment", name)), "WISP_REDIS_URL")
        c.check(f"{name} reads WISP_REDIS_URL from the Secret",
                e is not None and e["valueFrom"].get("secretKeyRef") == {"name": "wisp-redis-url", "key": "url"})


def main():
    scenario, path = sys.argv[1], sys.argv[2]
    objs = load(path)
    c = Checker()
    common(c, objs)
    {"default": check_default, "watch": check_watch, "external-redis": check_external_redis,
     "secret-redis": check_secret_redis}[scenario](c, objs)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
