//! The module at the edge on Kubernetes (k8s/envoy-module): its Envoy configuration is the
//! generator's output, the manifests mean what they say (k8s/validate.py), and the
//! configuration in the rendered ConfigMap runs in a real Envoy with the module and the secret
//! in its environment, answering the table's core cases; `uid-gate install-module` puts the
//! module in place.

use std::process::Command;

use crate::deploy::run;
use crate::envoy_module::{module_so, module_variant};
use crate::helpers::*;

fn rendered() -> String {
    let (ok, out) = run(Command::new("kubectl")
        .args(["kustomize", "k8s/envoy-module"])
        .current_dir(repo_root()));
    assert!(ok, "kubectl kustomize k8s/envoy-module failed:\n{out}");
    out
}

fn validate(rendered: &str, extra: &[&str]) -> (bool, String) {
    pip_tool("kubernetes-validate");
    let dir = TempDir::new("edge");
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, rendered).expect("write");
    run(Command::new(venv().join("bin/python"))
        .arg(repo_root().join("k8s/validate.py"))
        .arg(&file)
        .args(extra)
        .args(["--uid-gate-bin", env!("CARGO_BIN_EXE_uid-gate")]))
}

#[test]
fn the_edge_configuration_is_the_generators_output() {
    let dir = TempDir::new("edge-gen");
    let out = dir.path().join("envoy.yaml");
    let (ok, text) = run(Command::new("bash")
        .arg(repo_root().join("k8s/envoy-module/generate.sh"))
        .arg(&out)
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate")));
    assert!(ok, "generate.sh:\n{text}");
    let fresh = std::fs::read_to_string(&out).expect("generated");
    let shipped =
        std::fs::read_to_string(repo_root().join("k8s/envoy-module/envoy.yaml")).expect("shipped");
    assert!(
        fresh == shipped,
        "k8s/envoy-module/envoy.yaml is not what generate.sh writes from uid-gate.env: run it again"
    );
    assert!(
        !shipped.contains("generate-only-placeholder"),
        "the placeholder secret leaked"
    );
}

#[test]
fn the_edge_overlay_validates_and_its_configuration_runs_in_envoy_with_the_module() {
    let envoy = envoy_bin();
    let so = module_so(false);
    let rendered = rendered();
    let run_in_envoy = [
        "--envoy-bin",
        envoy.to_str().expect("utf8"),
        "--module",
        so.to_str().expect("utf8"),
    ];
    for version in ["1.30", "1.37"] {
        let mut args = vec!["--kubernetes-version", version];
        args.extend(run_in_envoy);
        let (ok, out) = validate(&rendered, &args);
        assert!(ok, "k8s/envoy-module against {version}:\n{out}");
        for line in [
            "ok   Deployment/envoy-edge: valid for Kubernetes",
            "ok   an init container of the uid-gate image installs the module into that directory",
            "ok   the edge's configuration, run in Envoy with the module: bob's tasks with alice's token: 403",
            "ok   the edge's configuration, run in Envoy with the module: alice's own tasks reach the app, with x-user-id alice",
        ] {
            assert!(out.contains(line), "{line}\n{out}");
        }
    }
    // The run can fail: the benchmark's null module lets everything through.
    let null = module_variant(Some("bench-null-filter"));
    let (ok, out) = validate(
        &rendered,
        &[
            "--envoy-bin",
            envoy.to_str().expect("utf8"),
            "--module",
            null.to_str().expect("utf8"),
        ],
    );
    assert!(
        !ok && out.contains("FAIL the edge's configuration, run in Envoy with the module: bob's tasks with alice's token: 403"),
        "{out}"
    );
}

#[test]
fn the_edge_validator_catches_mistakes() {
    let rendered = rendered();
    let cases = [
        (
            rendered.replace("envoy:v1.40.0", "envoy:v1.39.2"),
            "FAIL the Envoy image is 1.40",
        ),
        (
            rendered.replace("envoy:v1.40.0", "envoy:latest"),
            "FAIL Envoy and uid-gate images are pinned",
        ),
        (
            rendered.replace(
                "- install-module\n        - /etc/envoy/modules",
                "- install-module\n        - /tmp",
            ),
            "FAIL an init container of the uid-gate image installs the module",
        ),
        (
            rendered.replace("path: /ready", "path: /healthz"),
            "FAIL readiness is /ready on the probes listener",
        ),
        (
            rendered.replace(
                "- name: BETTER_AUTH_SECRET_FILE\n          value: /var/run/secrets/uid-gate/BETTER_AUTH_SECRET",
                "- name: BETTER_AUTH_SECRET\n          value: in-the-manifest",
            ),
            "FAIL the secret is not an environment value",
        ),
        (
            rendered.replace(
                "address: \"127.0.0.1\"\n          port_value: 9901",
                "address: \"0.0.0.0\"\n          port_value: 9901",
            ),
            "FAIL Envoy's admin listens on loopback only",
        ),
    ];
    for (broken, want) in cases {
        assert_ne!(broken, rendered, "the mutation for {want:?} did not apply");
        let (ok, out) = validate(&broken, &[]);
        assert!(!ok && out.contains(want), "{want}\n{out}");
    }
}

#[test]
fn install_module_copies_the_module_whole_and_refuses_anything_else() {
    let so = module_so(false);
    let dir = TempDir::new("modules");
    let install = |from: &std::path::Path| {
        run(Command::new(env!("CARGO_BIN_EXE_uid-gate"))
            .args(["install-module"])
            .arg(dir.path())
            .arg("--from")
            .arg(from))
    };
    let (ok, out) = install(&so);
    assert!(ok, "{out}");
    let placed = dir.path().join("libuid_gate_envoy.so");
    assert!(out.contains(&placed.display().to_string()), "{out}");
    assert_eq!(
        std::fs::read(&placed).expect("placed"),
        std::fs::read(&so).expect("module")
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&placed)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444, "read-only");
    let (ok, out) = install(&repo_root().join("README.md"));
    assert!(!ok && out.contains("is not an ELF shared object"), "{out}");
    let (ok, out) = install(&dir.path().join("missing.so"));
    assert!(!ok && out.contains("cannot read the module"), "{out}");
    // The default is where the release image keeps it.
    let (ok, out) =
        run(Command::new(env!("CARGO_BIN_EXE_uid-gate")).args(["install-module", "--help"]));
    assert!(
        ok && out.contains(uid_gate::install_module::MODULE_IN_IMAGE),
        "{out}"
    );
}

fn rendered_dir(dir: &str) -> String {
    let (ok, out) = run(Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(repo_root()));
    assert!(ok, "kubectl kustomize {dir} failed:\n{out}");
    out
}

#[test]
fn the_envoy_gateway_policy_is_the_generators_output() {
    let dir = TempDir::new("eg-gen");
    let out = dir.path().join("policy.yaml");
    let (ok, text) = run(Command::new("bash")
        .arg(repo_root().join("k8s/envoy-gateway/generate.sh"))
        .arg(&out));
    assert!(ok, "generate.sh:\n{text}");
    let shipped = std::fs::read_to_string(
        repo_root().join("k8s/envoy-gateway/module/envoyextensionpolicy.yaml"),
    )
    .expect("shipped");
    assert!(
        std::fs::read_to_string(&out).expect("generated") == shipped,
        "k8s/envoy-gateway/module/envoyextensionpolicy.yaml is not what generate.sh writes: run it again"
    );
}

#[test]
fn the_envoy_gateway_objects_match_their_schemas_and_the_policy_runs_in_envoy() {
    let envoy = envoy_bin();
    let so = module_so(false);
    let run_in_envoy = [
        "--envoy-bin",
        envoy.to_str().expect("utf8"),
        "--module",
        so.to_str().expect("utf8"),
    ];
    let ext_authz = rendered_dir("k8s/envoy-gateway/ext-authz");
    let (ok, out) = validate(&ext_authz, &[]);
    assert!(ok, "k8s/envoy-gateway/ext-authz:\n{out}");
    assert!(
        out.contains("ok   SecurityPolicy/uid-gate: matches securitypolicy-gateway-envoyproxy-io-v1alpha1.json")
            && out.contains("ok   SecurityPolicy/uid-gate: a ReferenceGrant in uid-gate lets it name Service uid-gate"),
        "{out}"
    );
    let module = rendered_dir("k8s/envoy-gateway/module");
    let (ok, out) = validate(&module, &run_in_envoy);
    assert!(ok, "k8s/envoy-gateway/module:\n{out}");
    for line in [
        "ok   EnvoyProxy/uid-gate: matches envoyproxy-gateway-envoyproxy-io-v1alpha1-subset.json",
        "ok   EnvoyExtensionPolicy/uid-gate: the configuration passes `uid-gate check-config`",
        "ok   the EnvoyExtensionPolicy's configuration, run in Envoy with the module: bob's tasks with alice's token: 403",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    // Each check fails on a copy with the mistake it is there for.
    let cases = [
        (
            ext_authz.replace("failOpen: false", "failOpen: true"),
            "FAIL SecurityPolicy/uid-gate: fails closed",
        ),
        (
            ext_authz.replace("failOpen: false", "failOpne: false"),
            "FAIL SecurityPolicy/uid-gate: Additional properties are not allowed",
        ),
        (
            ext_authz.replace("namespace: app\n  to:", "namespace: other\n  to:"),
            "FAIL SecurityPolicy/uid-gate: a ReferenceGrant in uid-gate",
        ),
        (
            module.replace("    name: uid-gate\n    source:", "    name: another\n    source:"),
            "FAIL EnvoyExtensionPolicy/uid-gate: module uid-gate is allowed by the EnvoyProxy",
        ),
        (
            module.replace("UIDGATE_PUBLIC_PATHS:", "UIDGATE_PUBLIC_PATH:"),
            "FAIL EnvoyExtensionPolicy/uid-gate: the configuration passes `uid-gate check-config`",
        ),
        (
            module.replace("UIDGATE_LEEWAY_SECS:", "BETTER_AUTH_SECRET:"),
            "FAIL EnvoyExtensionPolicy/uid-gate: the configuration holds uid-gate's variables and no secret",
        ),
        (
            module.replace(
                "- name: BETTER_AUTH_SECRET_FILE\n            value: /var/run/secrets/uid-gate/BETTER_AUTH_SECRET",
                "- name: BETTER_AUTH_SECRET\n            value: in-the-manifest",
            ),
            "FAIL EnvoyProxy/uid-gate: the secret is not an environment value",
        ),
    ];
    for (broken, want) in cases {
        assert!(
            broken != ext_authz && broken != module,
            "the mutation for {want:?} did not apply"
        );
        let (ok, out) = validate(&broken, &[]);
        assert!(!ok && out.contains(want), "{want}\n{out}");
    }
}
