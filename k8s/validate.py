#!/usr/bin/env python3
"""Validate rendered uid-gate manifests offline.

    kubectl kustomize k8s/istio > rendered.yaml
    python3 k8s/validate.py rendered.yaml --mesh-config k8s/istio/mesh-config.yaml \
        --uid-gate-bin target/debug/uid-gate

Checks, with no cluster and no network:
  * every Kubernetes object against the official OpenAPI schemas (kubernetes-validate, strict:
    unknown fields are errors);
  * Istio objects against the JSON schemas in k8s/schemas/ (transcribed from Istio's CRD and
    MeshConfig API; unknown fields are errors, as kubectl's strict field validation makes them);
  * the wiring between objects: selectors, ports, names, probes, the secret mount, the
    hardening uid-gate relies on, and that the Istio provider points at the uid-gate Service;
  * the ConfigMap's UIDGATE_* values, by running `uid-gate check-config` on them.
Exit code 0 when everything passes, 1 otherwise.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

import validate_edge
import validate_envoy_gateway

HERE = pathlib.Path(__file__).resolve().parent
SCHEMAS = {
    ("security.istio.io/v1", "AuthorizationPolicy"): "authorizationpolicy-security-istio-io-v1.json",
    ("install.istio.io/v1alpha1", "IstioOperator"): "istiooperator-meshconfig-subset.json",
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): "envoyfilter-networking-istio-io-v1alpha3.json",
    # Envoy Gateway v1.8, transcribed by schemas/transcribe_envoy_gateway.py.
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"): "securitypolicy-gateway-envoyproxy-io-v1alpha1.json",
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy"): "envoyextensionpolicy-gateway-envoyproxy-io-v1alpha1.json",
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy"): "envoyproxy-gateway-envoyproxy-io-v1alpha1-subset.json",
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"): "referencegrant-gateway-networking-k8s-io-v1beta1.json",
}

errors = []


def fail(msg):
    errors.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    print(f"ok   {msg}")


def load(paths):
    docs = []
    for p in paths:
        with open(p) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def schema_check(doc, version):
    kind, api = doc.get("kind"), doc.get("apiVersion")
    name = f"{kind}/{doc.get('metadata', {}).get('name', '?')}"
    schema_file = SCHEMAS.get((api, kind))
    try:
        if schema_file:
            schema = json.loads((HERE / "schemas" / schema_file).read_text())
            jsonschema.validate(doc, schema)
            ok(f"{name}: matches {schema_file}")
        else:
            kubernetes_validate.validate(doc, version, strict=True)
            ok(f"{name}: valid for Kubernetes {version} (strict)")
    except kubernetes_validate.SchemaNotFoundError:
        fail(f"{name}: no schema for {api} {kind}")
    except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as e:
        fail(f"{name}: {getattr(e, 'message', e)}")


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    if len(found) != 1:
        fail(f"expected exactly one {kind}, found {len(found)}")
        return None
    return found[0]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# A plain Envoy re-resolves a headless Service at most every 5 s, and CoreDNS keeps a record
# 5 s: a pod must keep serving that long after it leaves the endpoints (see
# src/envoy_config/cluster.rs and tests/it/scale_out.rs).
MIN_PRE_STOP_SECS = 10


def wiring(docs, uid_gate_bin):
    dep = one(docs, "Deployment")
    services = by_kind(docs, "Service")
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    routed = [s for s in services if s["spec"].get("clusterIP") != "None"]
    if len(routed) != 1:
        fail(f"expected exactly one ClusterIP Service, found {len(routed)}")
    svc = routed[0] if len(routed) == 1 else None
    if not dep or not svc:
        return
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    (c,) = [c for c in spec["containers"] if c["name"] == "uid-gate"]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    grpc_port = ports.get("grpc")
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")

    checks = [
        ("Deployment selector matches its pod labels", selects(dep["spec"]["selector"]["matchLabels"], labels)),
        replica_check(docs, dep),
        ("Service selects the uid-gate pods", selects(svc["spec"]["selector"], labels)),
        ("Service targets the container's grpc port", any(p.get("targetPort") in ("grpc", grpc_port) for p in svc["spec"]["ports"])),
        # Through the ClusterIP alone, a plain Envoy's few HTTP/2 connections stay pinned to
        # the pods that existed when they opened; scale-outs would sit idle.
        ("a headless Service (clusterIP: None) gives a plain Envoy one record per ready pod on the grpc port",
         len(headless) == 1 and selects(headless[0]["spec"]["selector"], labels)
         and not headless[0]["spec"].get("publishNotReadyAddresses", False)
         and any(p.get("targetPort") in ("grpc", grpc_port) for p in headless[0]["spec"]["ports"])),
        (f"the preStop pause ({pre_stop}) is at least {MIN_PRE_STOP_SECS} s, outlasting a plain Envoy's DNS refresh",
         pre_stop is not None and pre_stop >= MIN_PRE_STOP_SECS),
        ("terminationGracePeriodSeconds outlasts the preStop pause",
         pre_stop is not None and spec.get("terminationGracePeriodSeconds", 30) > pre_stop),
        ("readiness probe is native gRPC on the grpc port", c.get("readinessProbe", {}).get("grpc", {}).get("port") == grpc_port),
        # Liveness means "stuck", readiness "can decide": a liveness probe on the readiness
        # service restarts every pod while the issuer's JWKS is unreachable.
        ("liveness probe is /healthz on the admin port, not the readiness service",
         c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz"
         and c.get("livenessProbe", {}).get("httpGet", {}).get("port") in ("admin", ports.get("admin"))),
        ("a startup probe holds liveness off during start-up", "startupProbe" in c),
        ("never two replicas on one node (hostname spread, DoNotSchedule)", any(
            t.get("topologyKey") == "kubernetes.io/hostname" and t.get("whenUnsatisfiable") == "DoNotSchedule"
            for t in spec.get("topologySpreadConstraints", []))),
        ("pod runs as non-root", spec.get("securityContext", {}).get("runAsNonRoot") is True),
        ("root filesystem is read-only", c.get("securityContext", {}).get("readOnlyRootFilesystem") is True),
        ("no privilege escalation", c.get("securityContext", {}).get("allowPrivilegeEscalation") is False),
        ("all capabilities dropped", c.get("securityContext", {}).get("capabilities", {}).get("drop") == ["ALL"]),
        ("resource requests and limits set", all(k in c.get("resources", {}) for k in ("requests", "limits"))),
        ("no service account token mounted", spec.get("automountServiceAccountToken") is False),
        ("secret is not passed as an environment variable", all(e["name"] != "BETTER_AUTH_SECRET" for e in c.get("env", []))),
    ]
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        checks.append((f"PodDisruptionBudget {pdb['metadata']['name']} selects the pods", selects(pdb["spec"]["selector"]["matchLabels"], labels)))
        checks.append((f"PodDisruptionBudget {pdb['metadata']['name']} drains one at a time (maxUnavailable 1) and lets unhealthy pods go (AlwaysAllow)",
                       pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"]
                       and pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow"))
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        checks.append(("HorizontalPodAutoscaler targets the Deployment", ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"]))
        checks.append(("HorizontalPodAutoscaler keeps at least 2 replicas", hpa["spec"].get("minReplicas", 1) >= 2))
    for np in by_kind(docs, "NetworkPolicy"):
        checks.append(("NetworkPolicy selects the pods", selects(np["spec"]["podSelector"]["matchLabels"], labels)))
        np_ports = [p.get("port") for rule in np["spec"].get("ingress", []) for p in rule.get("ports", [])]
        # The admin port (9192, /metrics) may be opened in its own rule, to a labelled namespace only.
        admin_rules_ok = all(
            any("namespaceSelector" in f and f["namespaceSelector"].get("matchLabels") for f in rule.get("from", []))
            for rule in np["spec"].get("ingress", [])
            if any(p.get("port") in (9192, "admin") for p in rule.get("ports", []))
        )
        checks.append(("NetworkPolicy admits the grpc port, and the admin port only from a labelled namespace",
                       np_ports and all(p in (grpc_port, "grpc", 9192, "admin") for p in np_ports) and admin_rules_ok))
        checks.append(("NetworkPolicy restricts who may call", all(rule.get("from") for rule in np["spec"].get("ingress", []))))

    # The secret: mounted read-only from a Secret, and BETTER_AUTH_SECRET_FILE points into the mount.
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    secret_file = env.get("BETTER_AUTH_SECRET_FILE", "")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounted = [
        (m, volumes.get(m["name"], {}).get("secret"))
        for m in c.get("volumeMounts", [])
        if volumes.get(m["name"], {}).get("secret") and secret_file.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    checks.append(("BETTER_AUTH_SECRET_FILE lies in a read-only Secret mount", bool(mounted) and all(m.get("readOnly") for m, _ in mounted)))
    if mounted:
        m, secret = mounted[0]
        key_path = secret_file[len(m["mountPath"].rstrip("/")) + 1:]
        checks.append(("the Secret item maps to BETTER_AUTH_SECRET_FILE", any(i["path"] == key_path for i in secret.get("items", [])) or not secret.get("items")))

    # ConfigMaps named by envFrom exist in the rendering (kustomize adds a hash to the name).
    cms = {cm["metadata"]["name"]: cm for cm in by_kind(docs, "ConfigMap")}
    env_from = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    checks.append(("envFrom ConfigMaps exist", all(n in cms for n in env_from)))
    for name, passed in checks:
        (ok if passed else fail)(name)

    if uid_gate_bin and env_from and all(n in cms for n in env_from):
        run_env = {"PATH": os.environ.get("PATH", ""), "BETTER_AUTH_SECRET": "x" * 48}
        for n in env_from:
            run_env.update(cms[n].get("data", {}))
        r = subprocess.run([uid_gate_bin, "check-config"], env=run_env, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            ok("ConfigMap values pass `uid-gate check-config`")
        else:
            fail(f"ConfigMap values refused by uid-gate: {r.stderr.strip()}")
    return svc


def replica_check(docs, dep):
    """With an HPA the autoscaler owns the count: a `replicas` field would reset it on every
    apply. Without one, at least 2 replicas (the gate fails closed)."""
    if any(h["spec"]["scaleTargetRef"].get("name") == dep["metadata"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler")):
        return ("no Deployment replicas beside the HorizontalPodAutoscaler that owns the count", "replicas" not in dep["spec"])
    return ("Deployment runs at least 2 replicas", dep["spec"].get("replicas", 1) >= 2)


def istio(docs, mesh_docs, svc):
    policies = by_kind(docs, "AuthorizationPolicy")
    if not policies:
        return
    providers = {}
    for m in mesh_docs:
        for p in m["spec"]["meshConfig"].get("extensionProviders", []):
            providers[p["name"]] = p
    ns = svc["metadata"].get("namespace", "default")
    host = f"{svc['metadata']['name']}.{ns}.svc.cluster.local"
    svc_ports = [p["port"] for p in svc["spec"]["ports"]]
    for ap in policies:
        name = ap["metadata"]["name"]
        spec = ap["spec"]
        if spec.get("action") != "CUSTOM":
            continue
        pname = spec.get("provider", {}).get("name")
        prov = providers.get(pname)
        if prov is None:
            fail(f"AuthorizationPolicy {name}: provider {pname!r} is not in the mesh config's extensionProviders")
            continue
        grpc = prov.get("envoyExtAuthzGrpc")
        checks = [
            (f"AuthorizationPolicy {name}: provider {pname!r} is an ext_authz gRPC provider", grpc is not None),
            (f"provider {pname!r} points at {host}", grpc and grpc.get("service") in (host, f"{ns}/{host}")),
            (f"provider {pname!r} uses a Service port", grpc and grpc.get("port") in svc_ports),
            (f"provider {pname!r} fails closed", grpc and grpc.get("failOpen") is not True),
            (f"AuthorizationPolicy {name} selects a workload", bool(spec.get("selector", {}).get("matchLabels")) or "targetRefs" in spec),
            (f"AuthorizationPolicy {name} is not in uid-gate's namespace", ap["metadata"].get("namespace") not in (None, ns)),
            # Paths skipped here skip uid-gate's removal of a client's x-user-id and its path
            # rules; public paths belong in UIDGATE_PUBLIC_PATHS instead.
            (f"AuthorizationPolicy {name} sends every request to uid-gate (no notPaths or other exclusions)",
             bool(spec.get("rules")) and not any(
                 k.startswith("not") for r in spec["rules"] for t in r.get("to", []) for k in t.get("operation", {}))
             and not any(r.get("when") or r.get("from") for r in spec["rules"])),
        ]
        pod_labels = ((one(docs, "Deployment") or {}).get("spec", {}).get("template", {}).get("metadata", {})).get("labels", {})
        # A sidecar needs istio-init's NET_ADMIN/NET_RAW, which the restricted namespace
        # refuses: without the opt-out, a namespace with injection on gets no uid-gate pods.
        checks.append(("uid-gate's pods opt out of sidecar injection (sidecar.istio.io/inject: \"false\")",
                       pod_labels.get("sidecar.istio.io/inject") == "false"))
        normalizations = [m["spec"]["meshConfig"].get("pathNormalization", {}).get("normalization") for m in mesh_docs]
        checks.append((f"the mesh decodes and merges slashes before {name} (pathNormalization DECODE_AND_MERGE_SLASHES)",
                       bool(normalizations) and all(n == "DECODE_AND_MERGE_SLASHES" for n in normalizations)))
        for label, passed in checks:
            (ok if passed else fail)(label)


def network(docs):
    """JWKS mode needs DNS and HTTPS egress; report what the NetworkPolicy lets through."""
    cms = [d for d in docs if d.get("kind") == "ConfigMap" and "UIDGATE_PATH_TEMPLATES" in (d.get("data") or {})]
    for np in by_kind(docs, "NetworkPolicy"):
        name = np["metadata"]["name"]
        spec = np["spec"]
        ingress = sorted({p.get("port") for r in spec.get("ingress", []) for p in r.get("ports", [])})
        egress = sorted({p.get("port") for r in spec.get("egress", []) for p in r.get("ports", [])})
        ok(f"NetworkPolicy/{name}: ingress ports {ingress}, egress ports {egress}")
        jwks = any("UIDGATE_JWKS_URL" in (cm.get("data") or {}) for cm in cms)
        if jwks and "Egress" in spec.get("policyTypes", []):
            (ok if 53 in egress and 443 in egress else fail)(
                f"NetworkPolicy/{name}: UIDGATE_JWKS_URL is set, so egress allows DNS (53) and HTTPS (443) (the jwks-egress component)"
            )
            dns_rules = [r for r in spec.get("egress", []) if any(p.get("port") == 53 for p in r.get("ports", []))]
            node_local = any("ipBlock" in t and t["ipBlock"].get("cidr", "").startswith("169.254.") for r in dns_rules for t in r.get("to", []))
            in_cluster = any("namespaceSelector" in t and "ipBlock" not in t and "podSelector" not in t
                             for r in spec.get("egress", []) if not any(p.get("port") == 53 for p in r.get("ports", []))
                             for t in r.get("to", []))
            (ok if node_local else fail)(f"NetworkPolicy/{name}: DNS egress also reaches NodeLocal DNSCache (a link-local address)")
            (ok if in_cluster else fail)(f"NetworkPolicy/{name}: an issuer inside the cluster is reachable (a labelled namespace)")


MESH_OVERLAY_KEYS = {"extensionProviders", "pathNormalization"}


def mesh_overlay(mesh_docs):
    """The mesh config is an overlay for `istioctl install -f yours.yaml -f this.yaml`: it must
    hold nothing that would replace the rest of an installation."""
    for m in mesh_docs:
        spec = m.get("spec", {})
        extra = sorted(set(spec) - {"meshConfig"}) + sorted(set(spec.get("meshConfig", {})) - MESH_OVERLAY_KEYS)
        (ok if not extra else fail)(
            "mesh config overlay holds only meshConfig.extensionProviders and pathNormalization"
            + (f" (found {extra}, which would replace your installation's settings)" if extra else "")
        )


ROUTER = "envoy.filters.http.router"


HCM = "envoy.filters.network.http_connection_manager"


def is_gateway_headers(ef):
    """The shape of k8s/istio/gateway-headers.yaml: MERGEs into the connection manager only."""
    patches = ef["spec"].get("configPatches", [])
    return bool(patches) and all(
        p.get("applyTo") == "NETWORK_FILTER" and p.get("patch", {}).get("operation") == "MERGE" for p in patches
    )


def envoy_filters(docs):
    """The one EnvoyFilter uid-gate ships is k8s/istio/gateway-headers.yaml (checked below).
    Any other is refused: `uid-gate envoy-config --istio` printed one that carried the Lua
    engine, removed in 0.3 (in Istio, use the CUSTOM ext_authz provider of k8s/istio/)."""
    for ef in by_kind(docs, "EnvoyFilter"):
        if not is_gateway_headers(ef):
            fail(f"EnvoyFilter/{ef['metadata']['name']}: not one uid-gate ships; the inline EnvoyFilter "
                 "(jwt_authn + Lua) was removed in 0.3: use the CUSTOM ext_authz provider of k8s/istio/")


def gateway_headers(docs, envoy_bin):
    """k8s/istio/gateway-headers.yaml: the gateway's connection manager removes a client's
    x-user-id before any filter runs and refuses underscore spellings. With an Envoy binary
    the patch is run, not read: a client's x-user-id must not reach the upstream, the value a
    later filter (ext_authz's place) sets must, and `x_user_id` must be answered with 400."""
    for ef in by_kind(docs, "EnvoyFilter"):
        if not is_gateway_headers(ef):
            continue
        name = f"EnvoyFilter/{ef['metadata']['name']}"
        for p in ef["spec"]["configPatches"]:
            match = p.get("match", {})
            value = p["patch"].get("value", {}).get("typed_config", {})
            removes = [
                m.get("remove")
                for ext in value.get("early_header_mutation_extensions", [])
                if ext.get("name") == "envoy.http.early_header_mutation.header_mutation"
                for m in ext.get("typed_config", {}).get("mutations", [])
            ]
            underscores = value.get("common_http_protocol_options", {}).get("headers_with_underscores_action")
            checks = [
                (f"{name}: patches the HTTP connection manager of the gateway (context GATEWAY)",
                 match.get("context") == "GATEWAY"
                 and match.get("listener", {}).get("filterChain", {}).get("filter", {}).get("name") == HCM),
                (f"{name}: an early header mutation removes x-user-id before any filter runs", "x-user-id" in removes),
                (f"{name}: headers with underscores are refused (REJECT_REQUEST)", underscores == "REJECT_REQUEST"),
            ]
            for label, passed in checks:
                (ok if passed else fail)(label)
            if envoy_bin:
                import gateway_run

                runs = gateway_run.run(value, envoy_bin, ROUTER, HCM)
                if isinstance(runs, str):
                    fail(f"{name}: Envoy did not start with the patch: {runs}")
                    continue
                for label, got, want in runs:
                    (ok if got == want else fail)(f"{name}, run in Envoy: {label}" + ("" if got == want else f" (got {got})"))


def report_run(what, runs):
    """The outcome of a configuration run in Envoy (validate_edge.run): one line per request,
    or why Envoy did not serve."""
    if isinstance(runs, str):
        fail(f"{what} in Envoy: {runs}")
        return
    for label, got, want in runs:
        (ok if got == want else fail)(f"{what}, run in Envoy with the module: {label}"
                                      + ("" if got == want else f" (got {got}, want {want})"))


def edge(docs, args):
    """k8s/envoy-module: Envoy with uid-gate's module at the edge (validate_edge.py)."""
    results, text = validate_edge.checks(docs, selects)
    for label, passed in results:
        (ok if passed else fail)(label)
    if args.envoy_bin and args.module and text:
        report_run("the edge's configuration", validate_edge.run(text, args.envoy_bin, args.module))


def envoy_gateway(docs, args):
    """k8s/envoy-gateway: the SecurityPolicy to the service, or the module's EnvoyProxy and
    EnvoyExtensionPolicy (validate_envoy_gateway.py)."""
    results, configs = validate_envoy_gateway.checks(docs, args.uid_gate_bin)
    for label, passed in results:
        (ok if passed else fail)(label)
    if args.envoy_bin and args.module:
        for config in configs:
            report_run("the EnvoyExtensionPolicy's configuration",
                       validate_envoy_gateway.run(config, args.envoy_bin, args.module))


def main():
    ap = argparse.ArgumentParser(description="Validate rendered uid-gate manifests offline.")
    ap.add_argument("rendered", nargs="+", help="multi-document YAML files (kubectl kustomize output)")
    ap.add_argument("--mesh-config", action="append", default=[], help="IstioOperator file(s) with meshConfig")
    ap.add_argument("--kubernetes-version", default="1.33")
    ap.add_argument("--uid-gate-bin", help="run `uid-gate check-config` on the ConfigMap values")
    ap.add_argument("--envoy-bin", help="run EnvoyFilter patches, and the edge's configuration, in a real Envoy")
    ap.add_argument("--module", help="with --envoy-bin: the uid-gate module to run the edge's configuration with")
    args = ap.parse_args()

    docs = load(args.rendered)
    mesh_docs = load(args.mesh_config)
    for d in docs + mesh_docs:
        schema_check(d, args.kubernetes_version)
    # The inline mode's EnvoyFilter lives alone in the app's namespace: no uid-gate objects.
    inline_only = docs and all(d.get("kind") == "EnvoyFilter" for d in docs)
    svc = None
    if validate_edge.is_edge(docs):
        edge(docs, args)
    elif validate_envoy_gateway.is_envoy_gateway(docs):
        envoy_gateway(docs, args)
    elif not inline_only:
        svc = wiring(docs, args.uid_gate_bin)
    envoy_filters(docs)
    gateway_headers(docs, args.envoy_bin)
    network(docs)
    mesh_overlay(mesh_docs)
    if svc:
        istio(docs, mesh_docs, svc)
    print(f"{len(docs) + len(mesh_docs)} objects, {len(errors)} problem(s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
