//! Tokens from the real Better Auth library (tests/interop/mint.mjs, better-auth 1.7.25 and
//! jose from the npm registry, installed by this test with `npm ci`), checked by uid-gate.

use std::sync::OnceLock;

use serde_json::Value;

use crate::helpers::*;

/// Runs the Node script once per test run and returns what it printed.
fn better_auth() -> &'static Value {
    static OUT: OnceLock<Value> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = repo_root().join("tests/interop");
        if !dir.join("node_modules/better-auth").is_dir() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm (Node.js comes with the machine image)");
            assert!(status.success(), "npm ci in tests/interop failed");
        }
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
    })
}

async fn status(server: &TestServer, path: &str, token: &str) -> (i32, String) {
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

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

#[tokio::test]
async fn hs256_tokens_from_the_jwt_plugin_carry_uid_iss_and_aud() {
    let ba = tokio::task::spawn_blocking(better_auth)
        .await
        .expect("mint");
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
    let ba = tokio::task::spawn_blocking(better_auth)
        .await
        .expect("mint");
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
    let ba = tokio::task::spawn_blocking(better_auth)
        .await
        .expect("mint");
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
    let flipped = format!(
        "{msg}.{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
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
