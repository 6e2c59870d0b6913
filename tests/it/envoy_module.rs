//! The Envoy dynamic module (`crates/uid-gate-envoy`) in a real Envoy 1.40: built here, loaded
//! by the configuration `uid-gate envoy-config --inline` generates (the module engine).

use std::net::SocketAddr;
use std::path::PathBuf;

use uid_gate::config::Config;
use uid_gate::envoy_config::{GrpcClient, bootstrap};

use crate::helpers::{envoy_options, repo_root};

/// Builds the module (once per test run) and returns the `.so`. With `test_panic`, the build
/// that panics on the `x-uid-gate-test-panic` header.
pub fn module_so(test_panic: bool) -> PathBuf {
    module_variant(test_panic.then_some("test-panic"))
}

/// The module built with one of its test or benchmark `feature`s (or none), once per test
/// run. The variants share one target directory (only the module crate differs between them)
/// and are built one at a time, each copied to a name of its own.
pub fn module_variant(feature: Option<&'static str>) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(Option<&'static str>, PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, so)) = built.iter().find(|(f, _)| *f == feature) {
        return so.clone();
    }
    let target = repo_root().join(if feature.is_some() {
        "target/module-variants"
    } else {
        "target"
    });
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--locked", "-p", "uid-gate-envoy", "--target-dir"])
        .arg(&target)
        .current_dir(repo_root());
    if let Some(f) = feature {
        cmd.args(["--features", f]);
    }
    let status = cmd.status().expect("cargo build -p uid-gate-envoy");
    assert!(
        status.success(),
        "building the Envoy module ({feature:?}) failed"
    );
    let mut so = target.join("debug/libuid_gate_envoy.so");
    assert!(so.is_file(), "no module at {}", so.display());
    if let Some(f) = feature {
        let named = target.join(format!("libuid_gate_envoy-{f}.so"));
        std::fs::copy(&so, &named).expect("copy the module variant");
        so = named;
    }
    built.push((feature, so.clone()));
    so
}

/// The bootstrap `envoy-config --inline` (module engine) prints for `config`, in front of
/// `upstream`, loading `module`.
pub fn module_bootstrap(config: &Config, upstream: SocketAddr, module: &std::path::Path) -> String {
    let unused = SocketAddr::from(([127, 0, 0, 1], 9191));
    let mut opts = envoy_options(true, upstream, unused, GrpcClient::Envoy);
    opts.module = module.display().to_string();
    // gRPC-Web clients through the gRPC-Web filter (`--grpc-web`); the ext_authz hosts run
    // the shipped files, which have none, so both shapes meet the table's gRPC-Web cases.
    opts.grpc_web = true;
    bootstrap(&config.policy, &opts).expect("module bootstrap")
}

/// The variables Envoy's environment must hold for the module: the environment-only ones
/// (secrets and the files the module reads), as their declarations say.
pub fn module_env(vars: &[(String, String)]) -> Vec<(String, String)> {
    vars.iter()
        .filter(|(k, _)| {
            uid_gate::config::all_vars().any(|v| v.name == k.as_str() && v.environment_only())
        })
        .cloned()
        .collect()
}

mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::helpers::{
        Envoy, Proc, SECRET, TempDir, bearer, config, env, grpc_call, http_request, raw_token,
        spawn_echo,
    };

    /// An echo upstream and an Envoy with the module (the test-panic build if `test_panic`) in
    /// front of it, with the default test configuration and `concurrency` workers.
    async fn start(test_panic: bool, concurrency: u32) -> (Proc, SocketAddr, Envoy) {
        let so = tokio::task::spawn_blocking(move || module_so(test_panic))
            .await
            .expect("module");
        let (echo_proc, echo) = spawn_echo().await;
        let yaml = module_bootstrap(&config(&[]), echo, &so);
        let envoy = Envoy::start_with(&yaml, &module_env(&env(&[])), concurrency).await;
        (echo_proc, echo, envoy)
    }

    /// Envoy's resident memory, from /proc.
    fn rss_kib(envoy: &Envoy) -> u64 {
        let pid = envoy.proc.child.id().expect("envoy pid");
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    }

    #[tokio::test]
    async fn a_panic_inside_the_module_answers_503_and_envoy_keeps_serving() {
        let (_echo, _, envoy) = start(true, 1).await;
        let a = bearer("user_A");
        for _ in 0..3 {
            let r = http_request(
                envoy.listener,
                "GET",
                "/api/user_A/tasks",
                &[("authorization", &a), ("x-uid-gate-test-panic", "1")],
            )
            .await
            .expect("request");
            assert_eq!(r.status, 503, "{r:?}");
            assert_eq!(r.header("cache-control"), Some("no-store"));
            assert_eq!(r.json()["error"], "temporarily_unavailable", "{r:?}");
            // The same Envoy, the next request: served.
            let r = http_request(
                envoy.listener,
                "GET",
                "/api/user_A/tasks",
                &[("authorization", &a)],
            )
            .await
            .expect("request");
            assert_eq!(r.status, 200, "{r:?}");
        }
        // A gRPC client reads the fault as UNAVAILABLE (14), not as a successful call.
        let g = grpc_call(
            envoy.listener,
            "/api/user_A/pkg.Tasks/Create",
            &[
                ("authorization", &a),
                ("content-type", "application/grpc"),
                ("x-uid-gate-test-panic", "1"),
            ],
        )
        .await
        .expect("gRPC call");
        assert_eq!(g.grpc_status, Some(14), "{g:?}");
        assert!(envoy.proc.child.id().is_some(), "Envoy exited");
    }

    #[tokio::test]
    async fn under_load_only_allowed_requests_reach_the_app_with_one_correct_identity() {
        let (_echo, echo, envoy) = start(false, 2).await;
        let good = bearer("user_A");
        let bad = format!("{good}x");
        let kinds: Arc<[(&str, Option<String>, u16)]> = Arc::from(vec![
            ("/api/user_A/tasks", Some(good.clone()), 200),
            ("/api/user_B/tasks", Some(good.clone()), 403),
            ("/api/user_A/tasks", Some(bad), 401),
            ("/api/user_A/tasks", None, 401),
        ]);
        let run = |total: usize| {
            let kinds = kinds.clone();
            let listener = envoy.listener;
            async move {
                let next = Arc::new(AtomicUsize::new(0));
                let mut tasks = Vec::new();
                for _ in 0..8 {
                    let (kinds, next) = (kinds.clone(), next.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut wrong = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= total {
                                return wrong;
                            }
                            let (path, auth, want) = &kinds[i % kinds.len()];
                            let headers: Vec<(&str, &str)> = auth
                                .iter()
                                .map(|a| ("authorization", a.as_str()))
                                .chain([("x-user-id", "user_B")])
                                .collect();
                            let r = http_request(listener, "GET", path, &headers)
                                .await
                                .expect("request");
                            if r.status != *want {
                                wrong.push(format!("{path}: {} want {want}", r.status));
                            }
                        }
                    }));
                }
                let mut wrong = Vec::new();
                for t in tasks {
                    wrong.extend(t.await.expect("task"));
                }
                wrong
            }
        };
        assert!(run(2_000).await.is_empty());
        let warm = rss_kib(&envoy);
        let wrong = run(20_000).await;
        assert!(
            wrong.is_empty(),
            "{} wrong answers, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        let after = rss_kib(&envoy);
        assert!(
            after < warm + 16 * 1024,
            "Envoy's RSS grew from {warm} to {after} KiB"
        );
        // Every request the app saw was an allowed one, as user_A, with exactly that identity.
        let seen = http_request(echo, "GET", "/__echo/seen", &[])
            .await
            .expect("seen");
        let seen: Vec<serde_json::Value> = serde_json::from_str(&seen.body).expect("JSON");
        assert_eq!(
            seen.len(),
            22_000 / 4,
            "the app saw every allow and nothing else"
        );
        crate::faults::assert_only_authorized_reached_upstream(&seen);
    }

    #[tokio::test]
    async fn the_secret_file_rotates_without_restarting_envoy() {
        const NEW: &str = "new-secret-new-secret-new-secret-32";
        let dir = TempDir::new("module-rotation");
        let file = dir.path().join("secret");
        std::fs::write(&file, format!("{SECRET}\n")).expect("write");
        let file_var = file.to_str().expect("utf8").to_owned();
        let vars = env(&[
            ("BETTER_AUTH_SECRET", ""),
            ("BETTER_AUTH_SECRET_FILE", &file_var),
        ]);
        let (_echo, echo) = spawn_echo().await;
        let yaml = module_bootstrap(
            &Config::from_vars(vars.clone()).expect("config"),
            echo,
            &so_plain().await,
        );
        // Look at the file every second (the default is UIDGATE_SECRET_RELOAD_SECS=5).
        let leeway = r#"\"UIDGATE_LEEWAY_SECS\":\"30\""#;
        assert_eq!(yaml.matches(leeway).count(), 1);
        let yaml = yaml.replace(
            leeway,
            &format!(r#"{leeway},\"UIDGATE_SECRET_RELOAD_SECS\":\"1\""#),
        );
        let envoy = Envoy::start_with(&yaml, &module_env(&vars), 2).await;
        let token = |key: &str| {
            let exp = crate::helpers::now() + 600;
            format!(
                "Bearer {}",
                raw_token(
                    r#"{"alg":"HS256","typ":"JWT"}"#,
                    &format!(r#"{{"uid":"user_A","exp":{exp}}}"#),
                    key.as_bytes()
                )
            )
        };
        let status = |auth: String| {
            let listener = envoy.listener;
            async move {
                http_request(
                    listener,
                    "GET",
                    "/api/user_A/tasks",
                    &[("authorization", &auth)],
                )
                .await
                .expect("request")
                .status
            }
        };
        let eventually = |key: &'static str, want: u16| {
            let status = &status;
            let token = &token;
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let got = status(token(key)).await;
                    if got == want {
                        return;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{key}: {got}, want {want}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert_eq!(status(token(SECRET)).await, 200);
        assert_eq!(status(token(NEW)).await, 401);
        // old + new: both verify; then new alone: the old one is refused.
        std::fs::write(&file, format!("{NEW}\n{SECRET}\n")).expect("write");
        eventually(NEW, 200).await;
        assert_eq!(status(token(SECRET)).await, 200);
        std::fs::write(&file, format!("{NEW}\n")).expect("write");
        eventually(SECRET, 401).await;
        assert_eq!(status(token(NEW)).await, 200);
        // A file the core refuses keeps the secrets in force, and Envoy's log says why
        // (without the file's content).
        std::fs::write(&file, "too-short\n").expect("write");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !envoy
            .log()
            .contains("the secret file changed but was refused")
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no refusal in Envoy's log:\n{}",
                envoy.log()
            );
            status(token(NEW)).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(status(token(NEW)).await, 200);
        let log = envoy.log();
        assert!(!log.contains("too-short") && !log.contains(NEW), "{log}");
    }

    async fn so_plain() -> PathBuf {
        tokio::task::spawn_blocking(|| module_so(false))
            .await
            .expect("module")
    }
}
