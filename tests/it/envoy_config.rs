//! `uid-gate envoy-config`: every output passes `envoy --mode validate`, the generated
//! ext_authz config fronts a real uid-gate, a secret rotation inline is Envoy's environment
//! (the module reads the secrets there; the conformance table itself runs through the inline
//! config in `conformance/proxies.rs`), and what is gone or unknown is refused by name.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;
use uid_gate::config::Config;
use uid_gate::envoy_config::{GrpcClient, bootstrap};

use crate::helpers::*;

const OLD: &str = "old-secret-old-secret-old-secret-32";
const NEW: &str = "new-secret-new-secret-new-secret-32";

fn envoy_validate(yaml: &str) -> (bool, String) {
    envoy_validate_with(yaml, &[("BETTER_AUTH_SECRET", OLD)])
}

/// `envoy --mode validate` with `env` as Envoy's environment (the module reads its secrets
/// there, and validation creates the module's filter configuration).
fn envoy_validate_with(yaml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = TempDir::new("envoy-config");
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, yaml).expect("write");
    let out = Command::new(envoy_bin())
        .args(["--mode", "validate", "--log-level", "error", "-c"])
        .arg(&path)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("envoy");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("OK"), text)
}

/// A minimal bootstrap around a pasted filter list, as a user would paste `--filters-only`.
fn around(filters: &str) -> String {
    let indented: String = filters
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "static_resources:
  listeners:
  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: 10000 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: app
              domains: [\"*\"]
              routes: [{{ match: {{ prefix: / }}, route: {{ cluster: uid_gate }} }}]
          http_filters:
{indented}          - name: envoy.filters.http.router
            typed_config: {{ \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
  - name: uid_gate
    load_assignment:
      cluster_name: uid_gate
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 9191 }} }} }} }}] }}]
"
    )
}

#[test]
fn every_generated_config_passes_envoy_validate() {
    let table_jwks = TempDir::new("jwks");
    let jwks_file = table_jwks.path().join("jwks.json");
    std::fs::write(
        &jwks_file,
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"97Yhx7b2mtJNolyMWDLJiLqX0j0tCfq7MMiv3-mFbj0","kid":"ed-1"}]}"#,
    )
    .expect("jwks");
    let jwks_file = jwks_file.to_str().expect("utf8");
    let secret = [("BETTER_AUTH_SECRET", OLD)];
    let everything = [
        ("BETTER_AUTH_SECRETS", &*format!("2:{NEW},1:{OLD}")),
        (
            "UIDGATE_PATH_TEMPLATES",
            "/api/{user_id},/v2/users/{user_id}/files",
        ),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth,/healthz"),
        ("UIDGATE_CASE_INSENSITIVE_PATHS", "true"),
        ("UIDGATE_UID_CLAIMS", "user_id,\"odd\\claim\",sub"),
        ("UIDGATE_ISSUER", "https://app.example"),
        ("UIDGATE_AUDIENCE", "api,web"),
        ("UIDGATE_MAX_TOKEN_TTL_SECS", "3600"),
        ("UIDGATE_JWKS_FILE", jwks_file),
    ];
    let jwks_url = [
        ("BETTER_AUTH_SECRET", OLD),
        (
            "UIDGATE_JWKS_URL",
            "https://auth.example.com:8443/api/auth/jwks",
        ),
    ];
    let so = crate::envoy_module::module_so(false);
    let module = ["--inline", "--module", so.to_str().expect("utf8")];
    let clients = ["--cors-origin", "https://app.example.com", "--grpc-web"];
    let outputs = [
        ("module", envoy_config_cli(&secret, &module)),
        ("module, JWKS URL", envoy_config_cli(&jwks_url, &module)),
        (
            "module, every setting",
            envoy_config_cli(&everything, &module),
        ),
        (
            "module, DNS upstream, no admin",
            envoy_config_cli(
                &secret,
                &[&module[..], &["--upstream", "app:8000", "--admin", "none"]].concat(),
            ),
        ),
        (
            "module, CORS and gRPC-Web",
            envoy_config_cli(&secret, &[&module[..], &clients[..]].concat()),
        ),
        (
            "module filters pasted",
            around(&envoy_config_cli(
                &everything,
                &[&module[..], &["--filters-only", "--grpc-web"]].concat(),
            )),
        ),
        ("ext_authz", envoy_config_cli(&secret, &[])),
        (
            "ext_authz, google_grpc",
            envoy_config_cli(
                &secret,
                &["--grpc-client", "google", "--authz", "uid-gate:9191"],
            ),
        ),
        (
            "ext_authz, CORS and gRPC-Web",
            envoy_config_cli(&secret, &clients),
        ),
        (
            "ext_authz filter pasted",
            around(&envoy_config_cli(&secret, &["--filters-only"])),
        ),
    ];
    for (name, yaml) in &outputs {
        let (ok, out) = envoy_validate(yaml);
        assert!(ok, "{name} does not validate:\n{out}\n{yaml}");
    }
    // The check can fail: a generated config with one field misspelt does not validate.
    let broken = outputs[0].1.replace("normalize_path", "normalise_path");
    assert_ne!(broken, outputs[0].1);
    assert!(!envoy_validate(&broken).0, "a broken config validated");
    // Secrets never appear: the ext_authz configs have none, and the module reads them from
    // Envoy's environment.
    for (name, yaml) in &outputs {
        assert!(
            !yaml.contains(OLD) && !yaml.contains(NEW) && !yaml.contains(r#"\"BETTER_AUTH"#),
            "{name}:\n{yaml}"
        );
    }
    for m in ["module", "module, every setting", "module filters pasted"] {
        let yaml = &outputs.iter().find(|(name, _)| *name == m).expect(m).1;
        assert!(yaml.contains("envoy.filters.http.dynamic_modules"), "{m}");
    }
}

#[test]
fn envoy_config_refuses_bad_addresses_naming_the_flag() {
    for (args, flag) in [
        (&["--inline", "--listen", "localhost:80"][..], "--listen"),
        (&["--upstream", "app"][..], "--upstream"),
        (&["--authz", "a b:1"][..], "--authz"),
        (
            &["--cors-origin", "*"][..],
            "--cors-origin: '*' is not an origin",
        ),
        (
            &["--filters-only", "--cors-origin", "https://a.example"][..],
            "reads its policy from the virtual host",
        ),
        // Gone with the Lua engine (0.3): refused, saying what to use instead.
        (
            &["--inline", "--engine", "lua"][..],
            "the Lua engine was removed in 0.3",
        ),
        (&["--inline", "--istio"][..], "CUSTOM ext_authz provider"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_uid-gate"))
            .arg("envoy-config")
            .args(args)
            .env_clear()
            .env("BETTER_AUTH_SECRET", OLD)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{args:?}"
        );
    }
}

/// Status and the x-user-id the upstream saw, for `uid`'s token on `path`.
async fn ask(envoy: &Envoy, secret: &str, uid: &str, path: &str) -> (u16, Option<String>) {
    let token = uid_gate::mint::sign_claims(
        secret.as_bytes(),
        &serde_json::json!({"uid": uid, "exp": now() + 600}),
    )
    .expect("sign");
    let auth = format!("Bearer {token}");
    let r = http_request(
        envoy.listener,
        "GET",
        path,
        &[
            ("authorization", &auth),
            ("x-user-id", "forged"),
            ("x-user-id", "forged too"),
        ],
    )
    .await
    .expect("request");
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let user = body["headers"]["x-user-id"]
        .as_array()
        .map(|v| format!("{v:?}"));
    (r.status, user)
}

#[tokio::test]
async fn the_generated_ext_authz_config_fronts_uid_gate_with_either_grpc_client() {
    let server = TestServer::start(&[("BETTER_AUTH_SECRET", OLD)]).await;
    let (_echo, echo) = spawn_echo().await;
    for client in [GrpcClient::Envoy, GrpcClient::Google] {
        let yaml = bootstrap(
            &config(&[("BETTER_AUTH_SECRET", OLD)]).policy,
            &envoy_options(false, echo, server.addr, client),
        )
        .expect("bootstrap");
        let envoy = Envoy::start(&yaml).await;
        assert_eq!(
            ask(&envoy, OLD, "alice", "/api/alice/tasks").await,
            (200, Some("[String(\"alice\")]".into())),
            "{client:?}"
        );
        assert_eq!(ask(&envoy, OLD, "bob", "/api/alice/tasks").await.0, 403);
        assert_eq!(ask(&envoy, NEW, "alice", "/api/alice/tasks").await.0, 401);
    }
    server.stop().await;
}

#[tokio::test]
async fn rotating_secrets_inline_is_envoys_environment() {
    let (_echo, echo) = spawn_echo().await;
    let owner = (200, Some("[String(\"alice\")]".to_owned()));
    // Before: only the old secret.
    let envoy = inline_envoy(echo, &[("BETTER_AUTH_SECRET", OLD)]).await;
    assert_eq!(ask(&envoy, OLD, "alice", "/api/alice/x").await, owner);
    assert_eq!(ask(&envoy, NEW, "alice", "/api/alice/x").await.0, 401);
    drop(envoy);
    // During: the new secret signs, the old one still verifies.
    let rotation = format!("2:{NEW},1:{OLD}");
    let envoy = inline_envoy(echo, &[("BETTER_AUTH_SECRETS", &rotation)]).await;
    assert_eq!(ask(&envoy, OLD, "alice", "/api/alice/x").await, owner);
    assert_eq!(ask(&envoy, NEW, "alice", "/api/alice/x").await, owner);
    assert_eq!(ask(&envoy, NEW, "bob", "/api/alice/x").await.0, 403);
    drop(envoy);
    // After: the old secret is retired.
    let envoy = inline_envoy(echo, &[("BETTER_AUTH_SECRET", NEW)]).await;
    assert_eq!(ask(&envoy, NEW, "alice", "/api/alice/x").await, owner);
    assert_eq!(ask(&envoy, OLD, "alice", "/api/alice/x").await, (401, None));
}

/// Envoy running the module config generated from these variables, with them in its
/// environment (where the module reads its secrets).
async fn inline_envoy(upstream: SocketAddr, vars: &[(&str, &str)]) -> Envoy {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = Config::from_vars(vars.clone()).expect("config");
    let so = tokio::task::spawn_blocking(|| crate::envoy_module::module_so(false))
        .await
        .expect("module");
    let yaml = crate::envoy_module::module_bootstrap(&config, upstream, &so);
    Envoy::start_with(&yaml, &crate::envoy_module::module_env(&vars), 1).await
}

/// A deterministic stream of numbers (xorshift64*), so a failing path can be replayed.

#[test]
fn the_module_refuses_a_bad_configuration_naming_the_variable() {
    let so = crate::envoy_module::module_so(false);
    let yaml = envoy_config_cli(
        &[("BETTER_AUTH_SECRET", OLD)],
        &["--inline", "--module", so.to_str().expect("utf8")],
    );
    let leeway = r#"\"UIDGATE_LEEWAY_SECS\":\"30\""#;
    assert_eq!(
        yaml.matches(leeway).count(),
        1,
        "the filter configuration changed shape:\n{yaml}"
    );
    let secret = [("BETTER_AUTH_SECRET", OLD)];
    assert!(
        envoy_validate_with(&yaml, &secret).0,
        "the generated module config is valid"
    );
    for (yaml, env, want) in [
        (
            yaml.replace(leeway, r#"\"UIDGATE_LEEWAY_SECS\":\"soon\""#),
            &secret[..],
            "UIDGATE_LEEWAY_SECS: expected a whole number from 0 to 600",
        ),
        (yaml.clone(), &[][..], "BETTER_AUTH_SECRET is required"),
        (
            yaml.replace(
                leeway,
                &format!(r#"{leeway},\"BETTER_AUTH_SECRET\":\"{OLD}\""#),
            ),
            &secret[..],
            "BETTER_AUTH_SECRET must come from Envoy's environment",
        ),
        (
            yaml.replace(leeway, r#"\"UIDGATE_JWKS_URL\":\"https://a.example/jwks\""#),
            &secret[..],
            "UIDGATE_JWKS_URL: the module fetches it through the Envoy cluster named by _jwks_cluster",
        ),
    ] {
        let (ok, out) = envoy_validate_with(&yaml, env);
        assert!(
            !ok,
            "a bad module configuration was accepted (want {want:?})"
        );
        assert!(out.contains(want), "want {want:?} in Envoy's log:\n{out}");
        assert!(!out.contains(OLD), "a secret reached Envoy's log:\n{out}");
    }
    // A misspelt setting is refused too, not ignored.
    let (ok, out) = envoy_validate_with(
        &yaml.replace(leeway, r#"\"UIDGATE_PUBLIC_PATH\":\"/healthz\""#),
        &secret,
    );
    assert!(
        !ok && out.contains("UIDGATE_PUBLIC_PATH is not a setting"),
        "{out}"
    );
}

#[test]
fn the_envoy_the_module_is_built_for_is_pinned() {
    // The module speaks the dynamic-module ABI of Envoy 1.40 (uid_gate_envoy::ffi::ABI_VERSION,
    // v0.2.0). Another Envoy logs an ABI mismatch warning and may refuse to load it; the
    // project's pinned Envoy is this one (docs/envoy-inline.md, "Which Envoy loads it").
    let out = Command::new(envoy_bin())
        .arg("--version")
        .output()
        .expect("envoy");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("/1.40.0/"),
        "the module is built for Envoy 1.40.0, found: {version}"
    );
    let so = std::fs::read(crate::envoy_module::module_so(false)).expect("module");
    assert!(
        so.windows(7).any(|w| w == b"v0.2.0\0"),
        "the module does not announce ABI v0.2.0"
    );
}
