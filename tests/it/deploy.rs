//! Deployment surfaces, validated offline with real tools: every Envoy config with Envoy's own
//! `--mode validate`, docker-compose.yml with the docker-compose v2 CLI, and the Dockerfiles
//! with hadolint (the Kubernetes manifests: `deploy_k8s`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

pub(crate) fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_envoy_config_passes_envoy_validate() {
    let envoy = envoy_bin();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("envoy")).expect("envoy dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let (ok, out) = run(Command::new(&envoy)
                .args(["--mode", "validate", "--log-level", "error", "-c"])
                .arg(&path));
            assert!(
                ok && out.contains("OK"),
                "{} does not validate:\n{out}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected envoy.yaml and envoy-compose.yaml");
}

#[test]
fn envoy_validate_rejects_a_broken_config() {
    // The check above must be able to fail.
    let dir = TempDir::new("bad-envoy");
    let bad = std::fs::read_to_string(repo_root().join("envoy/envoy.yaml"))
        .expect("read")
        .replace("failure_mode_allow: false", "failure_mode_allowed: false");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad).expect("write");
    let (ok, _) = run(Command::new(envoy_bin())
        .args(["--mode", "validate", "--log-level", "critical", "-c"])
        .arg(&path));
    assert!(!ok);
}

#[test]
fn the_compose_envoy_config_differs_from_the_reference_only_in_cluster_addresses() {
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let reference = strip(
        &std::fs::read_to_string(repo_root().join("envoy/envoy-better-auth.yaml")).expect("read"),
    );
    let compose = strip(
        &std::fs::read_to_string(repo_root().join("envoy/envoy-compose.yaml")).expect("read"),
    )
    // Scaling uid-gate with compose: the name's every address, followed, and ejected on
    // refusal (what `envoy-config` emits for a name; the reference has one local address).
    .replacen(
        "\n    dns_refresh_rate: 5s\n    respect_dns_ttl: true\n    outlier_detection:\n      split_external_local_origin_errors: true\n      consecutive_local_origin_failure: 1\n      interval: 1s\n      base_ejection_time: 10s\n      max_ejection_percent: 50",
        "",
        1,
    )
    .replace("type: STRICT_DNS", "type: STATIC")
    .replace(
        "address: uid-gate, port_value: 9191",
        "address: 127.0.0.1, port_value: 9191",
    )
    .replace(
        "address: app, port_value: 8081",
        "address: 127.0.0.1, port_value: 8081",
    )
    .replace(
        "address: better-auth, port_value: 3000",
        "address: 127.0.0.1, port_value: 3000",
    );
    assert_eq!(compose, reference);
}

fn compose_bin() -> std::path::PathBuf {
    pip_tool("docker-compose");
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))"])
        .output()
        .expect("venv python");
    std::path::PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim())
}

fn compose_config(dir: &Path) -> (bool, String) {
    let compose = compose_bin();
    run(Command::new(compose)
        .arg("--project-directory")
        .arg(dir)
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .args(["config", "--quiet"]))
}

/// What docker-compose.yml means, read from `docker compose config` (normalised JSON): the
/// secret is a compose secret read through BETTER_AUTH_SECRET_FILE (no env file, no secret in
/// any environment), every service has a health check and a restart policy, and Envoy runs as
/// the image's own user (its root entrypoint would need capabilities the file drops).
fn compose_meaning(config: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let services = config["services"].as_object().cloned().unwrap_or_default();
    for name in ["uid-gate", "app", "better-auth", "envoy", "envoy-module"] {
        let Some(s) = services.get(name) else {
            wrong.push(format!("{name}: no such service"));
            continue;
        };
        if s.get("healthcheck").is_none() {
            wrong.push(format!("{name}: no health check"));
        }
        if s["restart"] != "unless-stopped" {
            wrong.push(format!("{name}: restart is {}", s["restart"]));
        }
        if s.get("env_file").is_some() {
            wrong.push(format!("{name}: reads an env file"));
        }
        if s["environment"].get("BETTER_AUTH_SECRET").is_some() {
            wrong.push(format!("{name}: the secret is an environment variable"));
        }
    }
    for name in ["uid-gate", "app", "better-auth", "envoy-module"] {
        let s = services.get(name).unwrap_or(&Value::Null);
        if s["secrets"][0]["source"] != "better_auth_secret" {
            wrong.push(format!(
                "{name}: does not mount the better_auth_secret secret"
            ));
        }
        if s["environment"]["BETTER_AUTH_SECRET_FILE"] != "/run/secrets/better_auth_secret" {
            wrong.push(format!(
                "{name}: BETTER_AUTH_SECRET_FILE does not name the secret"
            ));
        }
    }
    for name in ["envoy", "envoy-module"] {
        if services.get(name).unwrap_or(&Value::Null)["user"] != "101:101" {
            wrong.push(format!("{name}: not the image's envoy user (101:101)"));
        }
    }
    // The module profile: no uid-gate container in its request path, and it serves the stack
    // with the same routes (its configuration is generated from envoy-compose.yaml).
    let module = services.get("envoy-module").unwrap_or(&Value::Null);
    if module["profiles"][0] != "module" {
        wrong.push("envoy-module: not in the module profile".into());
    }
    if module["depends_on"].get("uid-gate").is_some() {
        wrong.push("envoy-module: depends on the uid-gate service".into());
    }
    if !config["secrets"]["better_auth_secret"]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("/secrets/better_auth_secret"))
    {
        wrong.push("no better_auth_secret file secret".into());
    }
    wrong
}

#[test]
fn docker_compose_file_is_valid_and_means_what_it_says() {
    let dir = TempDir::new("compose");
    std::fs::copy(
        repo_root().join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(repo_root().join("envoy"), dir.path().join("envoy"))
        .expect("symlink");
    let (ok, out) = compose_config(dir.path());
    assert!(ok && out.trim().is_empty(), "{out}");
    let json = |dir: &Path| -> Value {
        let out = Command::new(compose_bin())
            .arg("--project-directory")
            .arg(dir)
            .arg("-f")
            .arg(dir.join("docker-compose.yml"))
            .args(["--profile", "module", "config", "--format", "json"])
            .output()
            .expect("compose");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let wrong = compose_meaning(&json(dir.path()));
    assert!(wrong.is_empty(), "{wrong:?}");
    // The check can fail: the file as it was (an env file, no health checks on app and
    // Envoy, Envoy as root).
    let old = std::fs::read_to_string(dir.path().join("docker-compose.yml"))
        .expect("read")
        .replace(
            "    secrets: [better_auth_secret]\n    environment:\n      BETTER_AUTH_SECRET_FILE: /run/secrets/better_auth_secret\n",
            "    env_file: [.env]\n    environment:\n",
        )
        .replace("    user: \"101:101\"\n", "");
    std::fs::write(dir.path().join(".env"), "BETTER_AUTH_SECRET=\n").expect(".env");
    std::fs::write(dir.path().join("docker-compose.yml"), &old).expect("write");
    let wrong = compose_meaning(&json(dir.path()));
    for want in [
        "the secret is an environment variable",
        "does not mount",
        "not the image's envoy user",
    ] {
        assert!(
            wrong.iter().any(|w| w.contains(want)),
            "want {want:?} in {wrong:?}"
        );
    }
    // The module profile with the service back in its request path.
    let module_asks_the_service = std::fs::read_to_string(repo_root().join("docker-compose.yml"))
        .expect("read")
        .replace(
            "    ports:\n      - \"10001:10000\"\n    depends_on:\n",
            "    ports:\n      - \"10001:10000\"\n    depends_on:\n      uid-gate:\n        condition: service_healthy\n",
        );
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        &module_asks_the_service,
    )
    .expect("write");
    let wrong = compose_meaning(&json(dir.path()));
    assert!(
        wrong
            .iter()
            .any(|w| w.contains("envoy-module: depends on the uid-gate service")),
        "{wrong:?}"
    );
    // A typo in the file is caught by the compose schema.
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        old.replace("depends_on:", "depend_on:"),
    )
    .expect("write");
    let (ok, _) = compose_config(dir.path());
    assert!(!ok, "compose accepted an unknown key");
}

/// The compose profile `module`: its Envoy configuration is generate.py's output (from
/// envoy-compose.yaml and the uid-gate service's variables), and runs in real Envoy with the
/// module and the secret in its environment, answering the table's core cases; the routes
/// that switch the gate off (the page, Better Auth's API) are not the module's.
#[test]
fn the_compose_module_profile_runs_in_envoy_with_the_module() {
    let dir = TempDir::new("compose-module");
    let out = dir.path().join("envoy.yaml");
    let python = venv().join("bin/python");
    let (ok, text) = run(Command::new(&python)
        .arg(repo_root().join("envoy/compose-module/generate.py"))
        .args(["--uid-gate-bin", env!("CARGO_BIN_EXE_uid-gate"), "--out"])
        .arg(&out));
    assert!(ok, "generate.py:\n{text}");
    let shipped = repo_root().join("envoy/compose-module/envoy.yaml");
    assert!(
        std::fs::read_to_string(&out).expect("generated")
            == std::fs::read_to_string(&shipped).expect("shipped"),
        "envoy/compose-module/envoy.yaml is not what generate.py writes: run it again"
    );
    let so = crate::envoy_module::module_so(false);
    let (ok, text) = run(Command::new(&python)
        .arg(repo_root().join("k8s/validate_edge.py"))
        .arg(&shipped)
        .arg(envoy_bin())
        .arg(&so));
    assert!(ok, "the module profile's configuration in Envoy:\n{text}");
    for line in [
        "ok   bob's tasks with alice's token: 403",
        "ok   / skips the gate (its route disables it)",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    let (ok, out) =
        run(Command::new(pip_tool("hadolint"))
            .arg(repo_root().join("envoy/compose-module/Dockerfile")));
    assert!(ok, "hadolint:\n{out}");
}

#[test]
fn the_demo_apps_dockerfile_lints_clean_and_runs_unprivileged() {
    let file = repo_root().join("examples/fastapi/Dockerfile");
    let (ok, out) = run(Command::new(pip_tool("hadolint")).arg(&file));
    assert!(ok, "hadolint:\n{out}");
    let text = std::fs::read_to_string(file).expect("Dockerfile");
    assert!(
        text.contains("USER 65534:65534") && text.contains("--locked"),
        "{text}"
    );
}

#[test]
fn the_better_auth_dockerfile_lints_clean_and_installs_the_lock_file_unprivileged() {
    let file = repo_root().join("examples/better-auth/Dockerfile");
    let (ok, out) = run(Command::new(pip_tool("hadolint")).arg(&file));
    assert!(ok, "hadolint:\n{out}");
    let text = std::fs::read_to_string(file).expect("Dockerfile");
    assert!(
        text.contains("USER 1000:1000")
            && text.contains("npm ci")
            && text.contains("package-lock.json"),
        "{text}"
    );
}

#[test]
fn the_release_dockerfile_takes_the_release_binaries_for_both_architectures() {
    let file = repo_root().join("release/Dockerfile");
    let (ok, out) = run(Command::new(pip_tool("hadolint")).arg(&file));
    assert!(ok, "hadolint:\n{out}");
    let text = std::fs::read_to_string(file).expect("Dockerfile");
    let build = std::fs::read_to_string(repo_root().join("release/build.sh")).expect("build.sh");
    // The names release/build.sh writes, for Docker's two platform names.
    assert!(
        build.contains(r#""$dist/uid-gate-$version-$arch-linux-musl""#),
        "{build}"
    );
    assert!(
        build.contains(r#""$dist/libuid_gate_envoy-$version-envoy$envoy-$arch-linux-gnu.so""#),
        "{build}"
    );
    for (platform, arch) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        // The binary and the module built with it, where `uid-gate install-module` looks.
        assert!(
            text.contains(&format!(
                "FROM scratch AS bin-{platform}\nARG VERSION\nARG ENVOY=1.40\nCOPY dist/uid-gate-${{VERSION}}-{arch}-linux-musl /uid-gate\nCOPY dist/libuid_gate_envoy-${{VERSION}}-envoy${{ENVOY}}-{arch}-linux-gnu.so {}",
                uid_gate::install_module::MODULE_IN_IMAGE
            )),
            "{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "COPY --from=bin --chmod=0444 {0} {0}",
            uid_gate::install_module::MODULE_IN_IMAGE
        )),
        "{text}"
    );
    assert!(
        text.contains("FROM gcr.io/distroless/static-debian12:nonroot")
            && text.contains("USER 65532:65532")
            && text.contains("HEALTHCHECK"),
        "{text}"
    );
}

#[test]
fn dockerfile_lints_clean_and_describes_a_hardened_image() {
    let (ok, out) = run(Command::new(pip_tool("hadolint")).arg(repo_root().join("Dockerfile")));
    assert!(ok, "hadolint:\n{out}");
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let instructions: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.trim().is_empty())
        .collect();
    let froms: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(froms.len() >= 2, "multi-stage build");
    let final_stage = &instructions[froms[froms.len() - 1]..];
    assert!(
        final_stage[0].contains("distroless"),
        "final stage is distroless: {}",
        final_stage[0]
    );
    let user = final_stage
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("USER in the final stage");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(final_stage.contains(&"EXPOSE 9191"));
    assert!(
        final_stage
            .iter()
            .any(|l| l.starts_with("HEALTHCHECK")
                && l.contains(r#"CMD ["/uid-gate", "healthcheck"]"#))
    );
    assert!(final_stage.contains(&r#"ENTRYPOINT ["/uid-gate"]"#));
}
