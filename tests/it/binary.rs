//! The real `uid-gate` binary: configuration errors, `mint`, logs and signals.

use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::helpers::*;

/// The admin address the binary logged (`"message":"admin endpoint listening…","addr":…`).
async fn admin_address(proc: &mut Proc) -> std::net::SocketAddr {
    proc.wait_for("admin address", |l| {
        let v: Value = serde_json::from_str(l).ok()?;
        v["message"]
            .as_str()?
            .starts_with("admin endpoint")
            .then(|| v["addr"].as_str()?.parse().ok())?
    })
    .await
}

async fn run_binary(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_uid-gate"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output();
    tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("binary finishes")
        .expect("run binary")
}

#[tokio::test]
async fn bad_configuration_exits_2_with_one_line_naming_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "BETTER_AUTH_SECRET is required"),
        (
            &[("BETTER_AUTH_SECRET", "too-short")],
            "BETTER_AUTH_SECRET: must be at least 32 bytes",
        ),
        (
            &[
                ("BETTER_AUTH_SECRET", SECRET),
                ("UIDGATE_LEEWAY_SECS", "soon"),
            ],
            "UIDGATE_LEEWAY_SECS:",
        ),
        (
            &[
                ("BETTER_AUTH_SECRET", SECRET),
                ("UIDGATE_PATH_TEMPLATES", "/api/{id}"),
            ],
            "UIDGATE_PATH_TEMPLATES:",
        ),
        (
            &[("BETTER_AUTH_SECRET_FILE", "/nonexistent/secret")],
            "BETTER_AUTH_SECRET_FILE: cannot read",
        ),
    ];
    for (env, want) in cases {
        let out = run_binary(&[], env).await;
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.contains(want), "{stderr:?} should contain {want:?}");
        assert!(!stderr.contains("too-short"), "secret echoed: {stderr:?}");
    }
}

#[tokio::test]
async fn mint_signs_a_token_the_server_accepts() {
    let out = run_binary(
        &["mint", "user_A", "--ttl", "120"],
        &[("BETTER_AUTH_SECRET", SECRET)],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tok = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let allow = outcome(
        client
            .check(check_request(
                "/api/user_A/x",
                &[("authorization", &format!("Bearer {tok}"))],
            ))
            .await
            .expect("rpc")
            .into_inner(),
    );
    assert_eq!(allow.http_status, 200);
    let deny = outcome(
        client
            .check(check_request(
                "/api/user_B/x",
                &[("authorization", &format!("Bearer {tok}"))],
            ))
            .await
            .expect("rpc")
            .into_inner(),
    );
    assert_eq!(deny.http_status, 403);
    server.stop().await;

    let usage = run_binary(&["mint"], &[("BETTER_AUTH_SECRET", SECRET)]).await;
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn reads_the_secret_from_a_file() {
    let dir = TempDir::new("secret");
    let path = dir.path().join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).expect("write");
    let path = path.to_str().expect("utf8");
    let out = run_binary(&["mint", "u1"], &[("BETTER_AUTH_SECRET_FILE", path)]).await;
    assert!(out.status.success());
    let tok = String::from_utf8(out.stdout).expect("utf8");
    // Signed with the trimmed file contents, i.e. the same key as the env variable.
    let verifier = uid_gate::verify::Verifier::new(
        &[SECRET.as_bytes()],
        uid_gate::verify::ClaimRules {
            uid_claims: vec!["uid".into()],
            leeway_secs: 0,
            issuer: None,
            audiences: vec![],
        },
    );
    assert_eq!(
        verifier.verify(tok.trim(), now()).map(|i| i.user_id),
        Ok("u1".to_owned())
    );
}

#[tokio::test]
async fn logs_json_lines_without_tokens_and_exits_0_on_sigterm() {
    let env = env(&[]);
    let (mut proc, addr) = spawn_uid_gate(&env).await;
    let secret_token = token_for("user_A");
    let server_client =
        uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::connect(
            format!("http://{addr}"),
        );
    let mut client = server_client.await.expect("connect");
    for (path, auth) in [
        (
            "/api/user_A/tasks?secret=1",
            format!("Bearer {secret_token}"),
        ),
        ("/api/user_B/tasks", format!("Bearer {secret_token}")),
        ("/api/user_A/tasks", "Bearer x.y.z".to_owned()),
        ("/app/api/user_B/tasks", format!("Bearer {secret_token}")),
    ] {
        client
            .check(check_request(
                path,
                &[("authorization", &auth), ("x-request-id", "req-1")],
            ))
            .await
            .expect("rpc");
    }
    let mut decisions = Vec::new();
    while decisions.len() < 4 {
        let v = proc
            .wait_for("decision log", |l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(|v| v["message"] == "check")
            })
            .await;
        decisions.push(v);
    }
    assert_eq!(decisions[0]["decision"], "allow");
    assert_eq!(decisions[0]["reason"], "owner");
    assert_eq!(decisions[0]["path"], "/api/user_A/tasks");
    assert_eq!(decisions[0]["request_id"], "req-1");
    assert!(decisions[0]["latency_us"].is_u64());
    // Which rule judged the path, and the segment the template read as the user.
    assert_eq!(decisions[0]["rule"], "template /api/{user_id}");
    assert_eq!(decisions[0]["template"], "/api/{user_id}");
    assert_eq!(decisions[3]["reason"], "unlisted_path");
    assert_eq!(decisions[3]["rule"], "no rule (unlisted)");
    assert_eq!(decisions[0]["user_segment"], "user_A");
    assert_eq!(decisions[1]["user_segment"], "user_B");
    assert_eq!(
        (
            decisions[1]["decision"].as_str(),
            decisions[1]["status"].as_u64()
        ),
        (Some("deny"), Some(403))
    );
    assert_eq!(decisions[2]["reason"], "malformed_header");

    let pid = proc.child.id().expect("pid");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let mut rest = Vec::new();
    let status = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = proc.lines.recv().await {
            rest.push(line);
        }
        proc.child.wait().await
    })
    .await
    .expect("exits in time")
    .expect("wait");
    assert_eq!(status.code(), Some(0));
    let all = decisions
        .iter()
        .map(Value::to_string)
        .chain(rest.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("SIGTERM"), "{all}");
    assert!(all.contains("\"stopped\""), "{all}");
    for needle in [secret_token.as_str(), SECRET, "secret=1"] {
        assert!(!all.contains(needle), "log leaked {needle:?}");
    }
    assert!(
        rest.iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "non-JSON log line: {rest:?}"
    );
}

#[tokio::test]
async fn healthcheck_reports_serving_and_fails_when_nothing_listens() {
    let server = TestServer::start(&[]).await;
    let addr = server.addr.to_string();
    let out = run_binary(&["healthcheck", &addr], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SERVING"));
    let out = run_binary(
        &[
            "healthcheck",
            &addr,
            "--service",
            "envoy.service.auth.v3.Authorization",
        ],
        &[],
    )
    .await;
    assert!(out.status.success());
    let out = run_binary(&["healthcheck", &addr, "--service", "no.such.Service"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    // The default address comes from UIDGATE_LISTEN_ADDR's port.
    let port_env = format!("0.0.0.0:{}", server.addr.port());
    let out = run_binary(&["healthcheck"], &[("UIDGATE_LISTEN_ADDR", &port_env)]).await;
    assert!(out.status.success());
    server.stop().await;
    let out = run_binary(&["healthcheck", &addr], &[]).await;
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn check_config_validates_without_serving() {
    let out = run_binary(
        &["check-config"],
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("UIDGATE_PUBLIC_PATHS", "/api/auth"),
        ],
    )
    .await;
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration ok") && !stdout.contains(SECRET),
        "{stdout}"
    );
    // A human summary, not a Debug dump, with the sample paths' judgements.
    assert!(!stdout.contains("Config {"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("/api/health")
                && l.contains(
                    "user-scoped: only user \"health\" may pass (template /api/{user_id})"
                )),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("/api/auth/session") && l.contains("public")),
        "{stdout}"
    );
    // Paths given as arguments: which template and claims decide each.
    let out = run_binary(
        &["check-config", "/api/orgs/o1/tasks", "--path", "/api/bob"],
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            (
                "UIDGATE_PATH_TEMPLATES",
                "/api/{user_id},/api/orgs/{org_id}",
            ),
            ("UIDGATE_SCOPE_CLAIMS", "org_id=activeOrganizationId"),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("scope claims        {org_id} = activeOrganizationId")
            && stdout.contains("/api/orgs/o1/tasks    scoped: {org_id} \"o1\" must be in the token's activeOrganizationId (template /api/orgs/{org_id})")
            && stdout.contains("/api/bob              user-scoped: only user \"bob\" may pass"),
        "{stdout}"
    );
    let out = run_binary(
        &["check-config"],
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("UIDGATE_PUBLIC_PATHS", "/"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UIDGATE_PUBLIC_PATHS"),
        "the error names the variable"
    );
}

#[tokio::test]
async fn the_binary_serves_metrics_on_its_admin_port() {
    let (mut proc, addr) = spawn_uid_gate(&env(&[])).await;
    let admin = admin_address(&mut proc).await;
    let mut client =
        uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::connect(
            format!("http://{addr}"),
        )
        .await
        .expect("connect");
    client
        .check(check_request(
            "/api/user_A/x",
            &[("authorization", &bearer("user_B"))],
        ))
        .await
        .expect("rpc");
    let m = http_request(admin, "GET", "/metrics", &[])
        .await
        .expect("scrape");
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains(
            r#"uidgate_decisions_total{decision="deny",status="403",reason="not_owner"} 1"#
        ),
        "{}",
        m.body
    );
    assert_eq!(
        http_request(admin, "GET", "/readyz", &[])
            .await
            .expect("readyz")
            .status,
        200
    );
}

/// Issue #13, item 12: with only a JWKS URL, the pod is not ready until a key set is loaded,
/// says why in its log, and becomes ready once the JWKS can be fetched.
#[tokio::test]
async fn jwks_only_is_not_ready_until_the_first_key_set_loads() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/jwks");
    let (mut proc, addr) = spawn_uid_gate(&env(&[
        ("BETTER_AUTH_SECRET", ""),
        ("UIDGATE_JWKS_URL", &url),
        ("UIDGATE_JWKS_REFRESH_SECS", "1"),
    ]))
    .await;
    let admin = admin_address(&mut proc).await;
    proc.wait_for("the reason it is not ready", |l| {
        l.contains("NOT_SERVING until the first JWKS fetch succeeds")
            .then_some(())
    })
    .await;
    let health = |addr: std::net::SocketAddr| async move {
        run_binary(&["healthcheck", &addr.to_string()], &[]).await
    };
    assert_eq!(
        health(addr).await.status.code(),
        Some(1),
        "SERVING with no key"
    );
    let ready = http_request(admin, "GET", "/readyz", &[])
        .await
        .expect("readyz");
    assert_eq!(ready.status, 503);

    // The JWKS comes up: uid-gate loads it and reports ready.
    let dir = TempDir::new("jwks");
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/conformance/cases.json")).expect("table"),
    )
    .expect("json");
    std::fs::write(dir.path().join("jwks"), table["files"]["jwks"].to_string()).expect("write");
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        &port.to_string(),
    ])
    .current_dir(dir.path())
    .stderr(std::process::Stdio::null());
    let _jwks = Proc::spawn(cmd);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if health(addr).await.status.success() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never became SERVING"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let ready = http_request(admin, "GET", "/readyz", &[])
        .await
        .expect("readyz");
    assert_eq!(ready.status, 200);
}
