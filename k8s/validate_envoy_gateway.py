"""Envoy Gateway objects (k8s/envoy-gateway/): what they must mean for uid-gate, and, with an
Envoy binary and the module, the EnvoyExtensionPolicy's configuration run as Envoy Gateway
hands it to the module (its JSON as a StringValue filter config). Used by validate.py."""

import json
import os
import subprocess

import yaml

import validate_edge

KINDS = {"SecurityPolicy", "EnvoyExtensionPolicy", "EnvoyProxy", "ReferenceGrant"}


def is_envoy_gateway(docs):
    return bool(docs) and all(d.get("kind") in KINDS for d in docs)


def _of(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def checks(docs, uid_gate_bin):
    """(label, passed) for each rule, and the module configurations found."""
    out, configs = [], []
    proxies = _of(docs, "EnvoyProxy")
    registered = {m["name"]: m for p in proxies for m in p["spec"].get("dynamicModules", [])}
    for p in proxies:
        name = f"EnvoyProxy/{p['metadata']['name']}"
        dep = p["spec"].get("provider", {}).get("kubernetes", {}).get("envoyDeployment", {})
        volumes = {v["name"]: v for v in dep.get("pod", {}).get("volumes", [])}
        container = dep.get("container", {})
        mounts = {m["mountPath"].rstrip("/"): m for m in container.get("volumeMounts", [])}
        inits = dep.get("initContainers", [])
        for m in p["spec"].get("dynamicModules", []):
            path = m["source"].get("local", {}).get("path", "")
            out.append((f"{name}: module {m['name']} is loaded from the local filesystem",
                        m["source"].get("type", "Local") == "Local" and os.path.basename(path) == validate_edge.MODULE_FILE))
            out += [(f"{name}: {label}", passed) for label, passed
                    in validate_edge.module_placement(os.path.dirname(path), volumes, mounts, inits)]
        out.append((f"{name}: the init containers' images are pinned to a version tag (not latest)",
                    all(":" in c.get("image", "") and not c["image"].endswith(":latest") for c in inits)))
        out += [(f"{name}: {label}", passed) for label, passed
                in validate_edge.secret_file(container.get("env", []), volumes, mounts)]
    for pol in _of(docs, "EnvoyExtensionPolicy"):
        name = f"EnvoyExtensionPolicy/{pol['metadata']['name']}"
        for m in pol["spec"].get("dynamicModule", []):
            config = m.get("config") or {}
            configs.append(config)
            out += [
                (f"{name}: module {m['name']} is allowed by the EnvoyProxy (dynamicModules)",
                 not proxies or m["name"] in registered),
                (f"{name}: it runs uid-gate's filter", m.get("filterName") == "uid-gate"),
                (f"{name}: the configuration holds uid-gate's variables and no secret",
                 bool(config) and all(k.startswith("UIDGATE_") for k in config)
                 and all(isinstance(v, str) for v in config.values())),
                (f"{name}: it applies to a route", bool(pol["spec"].get("targetRefs"))),
            ]
            if uid_gate_bin:
                env = {"PATH": os.environ.get("PATH", ""), "BETTER_AUTH_SECRET": "x" * 48, **config}
                r = subprocess.run([uid_gate_bin, "check-config"], env=env, capture_output=True, text=True, timeout=30)
                out.append((f"{name}: the configuration passes `uid-gate check-config`"
                            + ("" if r.returncode == 0 else f" ({r.stderr.strip()})"),
                            r.returncode == 0 and "unknown variable" not in r.stderr))
    grants = _of(docs, "ReferenceGrant")
    for pol in _of(docs, "SecurityPolicy"):
        name = f"SecurityPolicy/{pol['metadata']['name']}"
        ext = pol["spec"].get("extAuth", {})
        refs = ext.get("grpc", {}).get("backendRefs", [])
        ns = pol["metadata"].get("namespace")
        out += [
            (f"{name}: asks uid-gate over gRPC on port 9191",
             bool(refs) and all(r.get("name") == "uid-gate" and r.get("port") == 9191 for r in refs)),
            (f"{name}: fails closed (failOpen is not true)", ext.get("failOpen") is not True),
            (f"{name}: sends authorization and content-type",
             "headersToExtAuth" not in ext or {"authorization", "content-type"} <= set(ext["headersToExtAuth"])),
            (f"{name}: applies to a route", bool(pol["spec"].get("targetRefs"))),
        ]
        for r in refs:
            if r.get("namespace", ns) != ns:
                out.append((f"{name}: a ReferenceGrant in {r['namespace']} lets it name Service {r['name']}", any(
                    g["metadata"].get("namespace") == r["namespace"]
                    and any(f.get("kind") == "SecurityPolicy" and f.get("namespace") == ns for f in g["spec"]["from"])
                    and any(t.get("kind") == "Service" and t.get("name", r["name"]) == r["name"] for t in g["spec"]["to"])
                    for g in grants)))
    return out, configs


def run(config, envoy_bin, module):
    """The module with `config` as Envoy Gateway gives it (a StringValue of its JSON), in a
    real Envoy: (label, got, want) for the table's core cases, as for the edge."""
    hcm_type = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    router = {"name": "envoy.filters.http.router",
              "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    module_filter = {"name": "envoy.filters.http.dynamic_modules", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
        "dynamic_module_config": {"module": {"local": {"filename": module}}, "do_not_close": True},
        "filter_name": "uid-gate",
        "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(config)}}}
    health = {"name": "envoy.filters.http.health_check", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
        "pass_through_mode": False, "headers": [{"name": ":path", "string_match": {"exact": "/ready"}}]}}

    def listener(name, filters, route):
        return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                    "@type": hcm_type, "stat_prefix": name, "normalize_path": True, "merge_slashes": True,
                    "path_with_escaped_slashes_action": "REJECT_REQUEST",
                    "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
                    "http_filters": filters + [router]}}]}]}

    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                listener("ingress", [module_filter], {"match": {"prefix": "/"}, "route": {"cluster": "app"}}),
                listener("probes", [health], {"match": {"prefix": "/"}, "direct_response": {"status": 404}}),
            ],
            "clusters": [{"name": "app", "type": "STATIC", "connect_timeout": "0.25s", "load_assignment": {
                "cluster_name": "app", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                    "socket_address": {"address": "127.0.0.1", "port_value": 1}}}}]}]}}],
        },
    }
    return validate_edge.run(yaml.safe_dump(bootstrap), envoy_bin, module)
