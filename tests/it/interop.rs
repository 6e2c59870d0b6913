//! Tokens from the real Better Auth library (tests/interop/mint.mjs, better-auth 1.7.25 and
//! jose from the npm registry, installed with `npm ci` on first use), checked by uid-gate.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// Runs the Node script once per test run and returns what it printed.
pub fn better_auth() -> &'static Value {
    static OUT: OnceLock<Value> = OnceLock::new();
    OUT.get_or_init(run_mint)
}

/// A second, independent run: other users and, above all, another EdDSA key (a rotation).
fn better_auth_rotated() -> &'static Value {
    static OUT: OnceLock<Value> = OnceLock::new();
    OUT.get_or_init(run_mint)
}

fn run_mint() -> Value {
    {
        npm_ci("tests/interop");
        let dir = repo_root().join("tests/interop");
        let out = std::process::Command::new("node")
            .arg("mint.mjs")
            .current_dir(&dir)
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("BASE_URL", "http://localhost:3000")
            .output()
            .expect("node");
        assert!(
            out.status.success(),
            "mint.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("mint.mjs JSON")
    }
}

/// A JWKS endpoint whose answer the test controls: `Some(body)` serves it, `None` answers 500.
pub(crate) fn spawn_jwks_server(listener: std::net::TcpListener, body: Arc<Mutex<Option<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.lock().expect("body").clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let reply = match body {
                    Some(b) => format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len()),
                    None => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
}

#[tokio::test]
async fn a_jwks_url_is_cached_survives_an_outage_and_is_refetched_for_a_new_kid() {
    let (first, second) = tokio::task::spawn_blocking(|| (better_auth(), better_auth_rotated()))
        .await
        .expect("mint");
    let (carol1, token1) = (s(&first["users"]["carol"]), s(&first["tokens"]["eddsa"]));
    let (carol2, token2) = (s(&second["users"]["carol"]), s(&second["tokens"]["eddsa"]));
    let body = Arc::new(Mutex::new(Some(first["jwks"].to_string())));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/api/auth/jwks",
        listener.local_addr().expect("addr")
    );
    spawn_jwks_server(listener, body.clone());
    let server = TestServer::start(&[
        ("UIDGATE_JWKS_URL", &url),
        ("UIDGATE_JWKS_REFRESH_SECS", "3600"),
    ])
    .await;
    let wait_for = |want: (i32, &'static str), path: String, token: &'static str| {
        let server = &server;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            loop {
                let got = status(server, &path, token).await;
                if got.0 == want.0 && (want.1.is_empty() || got.1 == want.1) {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{path}: still {got:?}, want {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Fetched at start.
    wait_for((200, ""), format!("/api/{carol1}/tasks"), token1).await;
    assert_eq!(server.counters.jwks_refreshes().0, 1);

    // Outage: a token with a new kid triggers a fetch, which fails; the cached key still works.
    *body.lock().expect("body") = None;
    assert_eq!(
        status(&server, &format!("/api/{carol2}/tasks"), token2).await,
        (401, "unknown_kid".into())
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while server.counters.jwks_refreshes().1 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed refresh recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(&server, &format!("/api/{carol1}/tasks"), token1)
            .await
            .0,
        200
    );

    // The issuer publishes the rotated key: the unknown kid leads to a refetch (rate-limited),
    // and both keys verify.
    let mut keys = first["jwks"]["keys"].as_array().expect("keys").clone();
    keys.extend(
        second["jwks"]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .cloned(),
    );
    *body.lock().expect("body") = Some(serde_json::json!({ "keys": keys }).to_string());
    wait_for((200, ""), format!("/api/{carol2}/tasks"), token2).await;
    assert_eq!(
        status(&server, &format!("/api/{carol1}/tasks"), token1)
            .await
            .0,
        200
    );
    let m = http_request(server.admin, "GET", "/metrics", &[])
        .await
        .expect("metrics")
        .body;
    assert!(m.contains("uidgate_jwks_keys 2"), "{m}");
    server.stop().await;
}

pub(crate) async fn status(server: &TestServer, path: &str, token: &str) -> (i32, String) {
    let mut client = server.client().await;
    let o = outcome(
        client
            .check(check_request(
                path,
                &[("authorization", &format!("Bearer {token}"))],
            ))
            .await
            .expect("rpc")
            .into_inner(),
    );
    (o.http_status, o.grpc_message)
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

/// What mint.mjs printed (run once per test run, off the async runtime).
pub(crate) async fn minted() -> &'static Value {
    tokio::task::spawn_blocking(better_auth)
        .await
        .expect("mint")
}

/// `token` with the first character of its signature changed (still base64url).
pub(crate) fn flip_signature(token: &str) -> String {
    let (msg, sig) = token.rsplit_once('.').expect("parts");
    let first = if sig.starts_with('A') { "B" } else { "A" };
    format!("{msg}.{first}{}", &sig[1..])
}

#[tokio::test]
async fn hs256_tokens_from_the_jwt_plugin_carry_uid_iss_and_aud() {
    let ba = minted().await;
    let (alice, bob) = (s(&ba["users"]["alice"]), s(&ba["users"]["bob"]));
    let token = s(&ba["tokens"]["plugin_hs256"]);
    // The plugin sets iss and aud to the base URL: check them.
    let base = s(&ba["base_url"]);
    let server = TestServer::start(&[("UIDGATE_ISSUER", base), ("UIDGATE_AUDIENCE", base)]).await;
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), token)
            .await
            .0,
        200
    );
    assert_eq!(
        status(&server, &format!("/api/{bob}/tasks"), token).await,
        (403, "not_owner".into())
    );
    let tampered = format!(
        "{}{}",
        &token[..token.len() - 2],
        if token.ends_with("AA") { "BB" } else { "AA" }
    );
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), &tampered)
            .await
            .0,
        401
    );
    server.stop().await;

    let wrong_aud = TestServer::start(&[("UIDGATE_AUDIENCE", "https://other.example")]).await;
    assert_eq!(
        status(&wrong_aud, &format!("/api/{alice}/tasks"), token).await,
        (401, "audience_mismatch".into())
    );
    wrong_aud.stop().await;
}

#[tokio::test]
async fn app_minted_hs256_tokens_with_only_sub() {
    let ba = minted().await;
    let (alice, bob) = (s(&ba["users"]["alice"]), s(&ba["users"]["bob"]));
    let server = TestServer::start(&[]).await;
    let token = s(&ba["tokens"]["app_hs256_sub"]);
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), token)
            .await
            .0,
        200
    );
    assert_eq!(
        status(&server, &format!("/api/{bob}/tasks"), token).await.0,
        403
    );
    let expired = s(&ba["tokens"]["app_hs256_expired"]);
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), expired).await,
        (401, "expired".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn the_plugins_default_eddsa_token_verifies_with_its_jwks() {
    let ba = minted().await;
    let (carol, alice) = (s(&ba["users"]["carol"]), s(&ba["users"]["alice"]));
    let token = s(&ba["tokens"]["eddsa"]);
    // Without a JWKS, an EdDSA token is refused, never passed.
    let plain = TestServer::start(&[]).await;
    assert_eq!(
        status(&plain, &format!("/api/{carol}/tasks"), token).await,
        (401, "unsupported_alg".into())
    );
    plain.stop().await;

    let dir = TempDir::new("jwks");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, ba["jwks"].to_string()).expect("write jwks");
    let base = s(&ba["base_url"]);
    let server = TestServer::start(&[
        ("UIDGATE_JWKS_FILE", jwks_file.to_str().expect("utf8")),
        ("UIDGATE_ISSUER", base),
        ("UIDGATE_AUDIENCE", base),
    ])
    .await;
    assert_eq!(
        status(&server, &format!("/api/{carol}/tasks"), token)
            .await
            .0,
        200
    );
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), token).await,
        (403, "not_owner".into())
    );
    let (msg, sig) = token.rsplit_once('.').expect("parts");
    let flipped = flip_signature(token);
    assert_eq!(
        status(&server, &format!("/api/{carol}/tasks"), &flipped).await,
        (401, "bad_signature".into())
    );
    // Another kid, or the same kid claimed for another algorithm, is refused.
    let header =
        |h: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h);
    let payload = msg.split('.').nth(1).expect("payload");
    let kid = ba["jwks"]["keys"][0]["kid"].as_str().expect("kid");
    let unknown = format!(
        "{}.{payload}.{sig}",
        header(r#"{"alg":"EdDSA","kid":"nope"}"#)
    );
    assert_eq!(
        status(&server, &format!("/api/{carol}/tasks"), &unknown).await,
        (401, "unknown_kid".into())
    );
    let confused = format!(
        "{}.{payload}.{sig}",
        header(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#))
    );
    assert_eq!(
        status(&server, &format!("/api/{carol}/tasks"), &confused).await,
        (401, "unsupported_alg".into())
    );
    // HS256 tokens keep working beside the JWKS.
    assert_eq!(
        status(
            &server,
            &format!("/api/{alice}/tasks"),
            s(&ba["tokens"]["plugin_hs256"])
        )
        .await
        .0,
        200
    );
    server.stop().await;
}

/// A CA and a certificate for `localhost` signed by it, made with openssl.

#[tokio::test]
async fn plugin_hs256_with_only_sub_and_es256_rs256_from_a_jwks() {
    let ba = minted().await;
    let (alice, bob, dave) = (
        s(&ba["users"]["alice"]),
        s(&ba["users"]["bob"]),
        s(&ba["users"]["dave"]),
    );
    let dir = TempDir::new("jwks-other");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, ba["other_jwks"].to_string()).expect("write jwks");
    let server =
        TestServer::start(&[("UIDGATE_JWKS_FILE", jwks_file.to_str().expect("utf8"))]).await;
    // The plugin's hook with an empty payload: only `sub` names the user.
    let sub_only = s(&ba["tokens"]["plugin_hs256_sub_only"]);
    assert_eq!(
        status(&server, &format!("/api/{dave}/tasks"), sub_only)
            .await
            .0,
        200
    );
    assert_eq!(
        status(&server, &format!("/api/{alice}/tasks"), sub_only)
            .await
            .0,
        403
    );
    for alg in ["es256", "rs256"] {
        let token = s(&ba["tokens"][alg]);
        assert_eq!(
            status(&server, &format!("/api/{alice}/tasks"), token)
                .await
                .0,
            200,
            "{alg}"
        );
        assert_eq!(
            status(&server, &format!("/api/{bob}/tasks"), token).await.0,
            403,
            "{alg}"
        );
        let flipped = flip_signature(token);
        assert_eq!(
            status(&server, &format!("/api/{alice}/tasks"), &flipped)
                .await
                .0,
            401,
            "{alg}"
        );
    }
    server.stop().await;
}
