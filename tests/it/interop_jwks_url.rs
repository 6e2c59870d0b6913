//! Better Auth's JWKS through a URL: over https, verified against a configured private CA, and
//! fetched by inline Envoy itself (plain http, and https only from a server the CA vouches for).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::interop::{flip_signature, minted, s, spawn_jwks_server, status};

fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=uid-gate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// An https server for `dir/jwks.json` with `dir/server.pem` (from `make_certs`); its port.
async fn spawn_https_jwks(dir: &std::path::Path) -> (Proc, u16) {
    let script = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open("jwks.json", "rb").read()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("server.pem", "server.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening on", srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut cmd = tokio::process::Command::new("python3");
    cmd.args(["-c", script]).current_dir(dir);
    let mut https = Proc::spawn(cmd);
    let port: u16 = https
        .wait_for("https JWKS server", |l| {
            l.strip_prefix("listening on ")?.trim().parse().ok()
        })
        .await;
    (https, port)
}

#[tokio::test]
async fn an_https_jwks_url_is_verified_against_the_configured_ca() {
    let ba = minted().await;
    let (carol, token) = (s(&ba["users"]["carol"]), s(&ba["tokens"]["eddsa"]));
    let dir = TempDir::new("jwks-tls");
    make_certs(dir.path());
    std::fs::write(dir.path().join("jwks.json"), ba["jwks"].to_string()).expect("jwks");
    let (_https, port) = spawn_https_jwks(dir.path()).await;
    let url = format!("https://localhost:{port}/api/auth/jwks");
    let ca = dir.path().join("ca.pem");

    let trusted = TestServer::start(&[
        ("UIDGATE_JWKS_URL", &url),
        ("UIDGATE_JWKS_CA_FILE", ca.to_str().expect("utf8")),
    ])
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while trusted.counters.jwks_refreshes().0 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "https JWKS never fetched: {:?}",
            trusted.counters.jwks_refreshes()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(&trusted, &format!("/api/{carol}/tasks"), token)
            .await
            .0,
        200
    );
    trusted.stop().await;

    // Without the CA the certificate is not trusted: nothing is fetched, the token is refused.
    let untrusted = TestServer::start(&[("UIDGATE_JWKS_URL", &url)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while untrusted.counters.jwks_refreshes().1 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed fetch recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(untrusted.counters.jwks_refreshes().0, 0);
    assert_eq!(
        status(&untrusted, &format!("/api/{carol}/tasks"), token).await,
        (401, "unknown_kid".into())
    );
    untrusted.stop().await;
}

#[tokio::test]
async fn the_plugins_eddsa_token_passes_inline_envoy_that_fetches_the_jwks_url() {
    // `uid-gate envoy-config --inline` with UIDGATE_JWKS_URL: the module fetches it through
    // the generated cluster (an HTTP callout on Envoy's main thread).
    let ba = minted().await;
    let (carol, alice) = (s(&ba["users"]["carol"]), s(&ba["users"]["alice"]));
    let token = s(&ba["tokens"]["eddsa"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let jwks_addr = listener.local_addr().expect("addr");
    spawn_jwks_server(listener, Arc::new(Mutex::new(Some(ba["jwks"].to_string()))));
    let base = s(&ba["base_url"]);
    let url = format!("http://{jwks_addr}/api/auth/jwks");
    let vars = [
        ("UIDGATE_JWKS_URL", url.as_str()),
        ("UIDGATE_ISSUER", base),
        ("UIDGATE_AUDIENCE", base),
    ];
    let config = config(&vars);
    let (_echo, echo) = spawn_echo().await;
    let so = tokio::task::spawn_blocking(|| crate::envoy_module::module_so(false))
        .await
        .expect("module");
    {
        let engine = "module";
        let yaml = crate::envoy_module::module_bootstrap(&config, echo, &so);
        let envoy =
            Envoy::start_with(&yaml, &crate::envoy_module::module_env(&env(&vars)), 1).await;
        let ask = |path: String, token: String| {
            let addr = envoy.listener;
            async move {
                let auth = format!("Bearer {token}");
                let r = http_request(addr, "GET", &path, &[("authorization", &auth)])
                    .await
                    .expect("request");
                let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                let user = body["headers"]["x-user-id"][0].as_str().map(str::to_owned);
                let reason = body["error_description"].as_str().map(str::to_owned);
                (r.status, user.or(reason))
            }
        };
        // The module's first fetch runs once Envoy's main thread is free: until then a JWKS
        // token gets 401 unknown_kid (as from the service), and asks for an early fetch.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let got = ask(format!("/api/{carol}/tasks"), token.to_owned()).await;
            if got == (200, Some(carol.to_owned())) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{engine}: {got:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            ask(format!("/api/{alice}/tasks"), token.to_owned()).await,
            (403, Some("token user does not own this path".into())),
            "{engine}"
        );
        let flipped = flip_signature(token);
        assert_eq!(
            ask(format!("/api/{carol}/tasks"), flipped).await,
            (401, Some("token signature is invalid".into())),
            "{engine}"
        );
        // The HS256 secret still verifies beside the JWKS.
        let hs256 = crate::helpers::token(
            serde_json::json!({"uid": carol, "iss": base, "aud": base, "exp": now() + 600}),
        );
        assert_eq!(
            ask(format!("/api/{carol}/tasks"), hs256).await,
            (200, Some(carol.to_owned())),
            "{engine}"
        );
    }
}

#[tokio::test]
async fn inline_envoy_fetches_an_https_jwks_url_only_from_a_server_the_configured_ca_vouches_for() {
    let ba = minted().await;
    let (carol, token) = (s(&ba["users"]["carol"]), s(&ba["tokens"]["eddsa"]));
    let dir = TempDir::new("jwks-tls-inline");
    make_certs(dir.path());
    std::fs::write(dir.path().join("jwks.json"), ba["jwks"].to_string()).expect("jwks");
    let (_https, port) = spawn_https_jwks(dir.path()).await;
    let url = format!("https://localhost:{port}/api/auth/jwks");
    let ca = dir.path().join("ca.pem");
    let (_echo, echo) = spawn_echo().await;
    let so = tokio::task::spawn_blocking(|| crate::envoy_module::module_so(false))
        .await
        .expect("module");
    let so = so.to_str().expect("utf8").to_owned();
    {
        let engine = &["--module", so.as_str()][..];
        for (ca_file, want) in [(Some(&ca), 200), (None, 401)] {
            let mut vars = vec![("UIDGATE_JWKS_URL", url.as_str())];
            vars.extend(ca_file.map(|f| ("UIDGATE_JWKS_CA_FILE", f.to_str().expect("utf8"))));
            // The CLI, which passes UIDGATE_JWKS_CA_FILE's PEM into the JWKS cluster.
            let upstream = echo.to_string();
            let args = [
                "--inline",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
            ];
            let args = [&args[..], engine, &["--upstream", &upstream]].concat();
            let yaml = envoy_config_cli(&vars, &args);
            assert_eq!(
                yaml.contains("BEGIN CERTIFICATE"),
                ca_file.is_some(),
                "the CA is inlined"
            );
            let envoy =
                Envoy::start_with(&yaml, &crate::envoy_module::module_env(&env(&vars)), 1).await;
            let auth = format!("Bearer {token}");
            // The module fetches once Envoy runs, so give it a moment; a failed fetch leaves no
            // keys (for the 401, the fetches have that moment too before the answer counts).
            if want == 401 {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(6);
            let status = loop {
                let r = http_request(
                    envoy.listener,
                    "GET",
                    &format!("/api/{carol}/tasks"),
                    &[("authorization", &auth)],
                )
                .await
                .expect("request");
                if r.status == want || tokio::time::Instant::now() > deadline {
                    break (r.status, r.body);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            };
            assert_eq!(status.0, want, "{engine:?}, CA {ca_file:?}: {}", status.1);
        }
    }
}
