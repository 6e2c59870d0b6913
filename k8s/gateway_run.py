"""k8s/istio/gateway-headers.yaml run for real: a gateway listener as Istio builds it, the
patch merged in, a filter where ext_authz runs, and an upstream that echoes the x-user-id it
receives, all in one Envoy. Used by validate.py --envoy-bin."""

import http.client
import json
import socket
import subprocess
import tempfile
import time


def merged(base, patch):
    """Istio's MERGE of a patch into a config, for the maps this file uses (lists append, as
    repeated proto fields do)."""
    out = dict(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = out[k] + v
        else:
            out[k] = v
    return out


def run(typed_config, envoy_bin, router_name, hcm_name):
    """Runs a gateway with the patch in a real Envoy; returns (what, got, wanted) for each
    request, or why Envoy did not start."""

    def free_port():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def lua(code):
        return {"name": "envoy.filters.http.lua", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", "default_source_code": {"inline_string": code}}}

    router = {"name": router_name, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    hcm_type = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    gw_port, echo_port = free_port(), free_port()
    # The gateway as Istio builds it, plus this patch; a Lua filter stands where ext_authz
    # would run and sets x-user-id when asked, as an allow does.
    gateway = merged({
        "@type": hcm_type, "stat_prefix": "gateway",
        "route_config": {"virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]}]},
        "http_filters": [lua('function envoy_on_request(h) if h:headers():get("x-test-allow") then h:headers():replace("x-user-id", "verified") end end'), router],
    }, typed_config)
    # The app: answers with the x-user-id values it received.
    echo = {
        "@type": hcm_type, "stat_prefix": "app",
        "route_config": {"virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 500}}]}]},
        "http_filters": [lua('function envoy_on_request(h) local v = {} for k, x in pairs(h:headers()) do if k == "x-user-id" then v[#v+1] = x end end '
                             'h:respond({[":status"] = "200"}, #v > 0 and table.concat(v, ",") or "(none)") end'), router],
    }
    listener = lambda n, port, hcm: {"name": n, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                                     "filter_chains": [{"filters": [{"name": hcm_name, "typed_config": hcm}]}]}
    bootstrap = {"static_resources": {
        "listeners": [listener("gateway", gw_port, gateway), listener("app", echo_port, echo)],
        "clusters": [{"name": "app", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "app", "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": echo_port}}}}]}]}}],
    }}

    def get(headers):
        conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=5)
        conn.putrequest("GET", "/api/bob/tasks")
        for k, v in headers:
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read().decode()

    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(bootstrap, f)
        f.flush()
        proc = subprocess.Popen([envoy_bin, "--disable-hot-restart", "--concurrency", "1", "--log-level", "error", "-c", f.name],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    get([])
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.kill()
                        return proc.communicate()[0].strip()[-400:]
                    time.sleep(0.1)
            runs = [
                ("a client's x-user-id does not reach the app", get([("x-user-id", "bob")]), (200, "(none)")),
                ("the value a later filter sets (ext_authz's place) reaches the app alone",
                 get([("x-user-id", "bob"), ("x-test-allow", "1")]), (200, "verified")),
                ("x_user_id is answered with 400", get([("x_user_id", "bob")])[:1], (400,)),
            ]
        finally:
            proc.kill()
            proc.wait()
    return runs

