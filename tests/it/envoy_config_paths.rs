//! Random paths through the same Envoy twice: the generated inline config and the generated
//! ext_authz config answer every one alike.

use std::net::SocketAddr;

use serde_json::Value;
use uid_gate::envoy_config::{GrpcClient, bootstrap};

use crate::helpers::*;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// A path built from pieces that matter to the rules: template and public segments in
/// several spellings, user ids, dot and empty segments, escapes, parameters, queries.
fn random_path(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "api",
        "API",
        "Api",
        "%61pi",
        "%41PI",
        "auth",
        "AUTH",
        "healthz",
        "docs",
        "v2",
        "users",
        "files",
        "user_A",
        "user_B",
        "user%5FA",
        "user_a",
        "%75ser_A",
        ".",
        "..",
        "",
        "%2e",
        "%2E%2e",
        "%2F",
        "%5c",
        "a;b",
        ";",
        "x%",
        "%zz",
        "%00",
        "%7f",
        "%C3%A9",
        "~",
        "a.b",
        "-_.",
        "tasks",
        "%20",
        "+",
        "@",
        ":",
        "!$&'()*,=",
    ];
    const STARTS: &[&str] = &[
        "",
        "/api",
        "/api/user_A",
        "/api/user_B",
        "/API/user_A",
        "/v2/users/user_A",
        "/v2/users/user_B",
        "/api/auth/x",
        "/api/orgs/o1/users/user_A",
        "/apix/user_A",
        "/api/authx",
        "/healthzz",
        "/api/orgs/o1/usersx",
    ];
    let mut path = STARTS[rng.below(STARTS.len())].to_owned();
    for _ in 0..rng.below(4) + usize::from(path.is_empty()) {
        path.push('/');
        path.push_str(PIECES[rng.below(PIECES.len())]);
    }
    match rng.below(6) {
        0 => path.push('/'),
        1 => path.push_str("?q=/api/user_B"),
        2 => path.push('?'),
        _ => {}
    }
    path
}

/// What a client sees of a deny or an allow: status, challenge, body (the upstream's echo
/// body is reduced to the user it got).
async fn answer(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, Option<String>, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let r = http_request(addr, "GET", path, &headers)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let body = if body.get("path").is_some() {
        format!("upstream, x-user-id {}", body["headers"]["x-user-id"])
    } else {
        r.body.clone()
    };
    (
        r.status,
        r.header("www-authenticate").map(str::to_owned),
        body,
    )
}

#[tokio::test]
async fn inline_answers_random_paths_as_ext_authz_does_through_the_same_envoy() {
    // The module must agree with the service on every path Envoy lets through, for the owner's
    // token, another user's and none: with templates whose user id is last (the filter's fast
    // path, nested prefixes, ignoring case), and with one that has a segment after the user
    // (the segment-wise path); with authenticated-only prefixes, and with unlisted paths
    // denied (the default) and allowed.
    let configs: [&[(&str, &str)]; 3] = [
        &[],
        &[
            (
                "UIDGATE_PATH_TEMPLATES",
                "/api/{user_id},/api/orgs/o1/users/{user_id}",
            ),
            ("UIDGATE_AUTH_ONLY_PATHS", "/apix,/api/orgs/o1/usersx"),
            ("UIDGATE_CASE_INSENSITIVE_PATHS", "true"),
        ],
        &[
            (
                "UIDGATE_PATH_TEMPLATES",
                "/api/{user_id},/v2/users/{user_id}/files",
            ),
            ("UIDGATE_AUTH_ONLY_PATHS", "/api/authx,/healthzz"),
            ("UIDGATE_UNLISTED_PATHS", "authenticated"),
            ("UIDGATE_CASE_INSENSITIVE_PATHS", "true"),
        ],
    ];
    let (_echo, echo) = spawn_echo().await;
    let owner = bearer("user_A");
    let other = bearer("user_B");
    let mut rng = Rng(0x5EED_1234_ABCD_0042);
    for extra in configs {
        let config = config(extra);
        let server = TestServer::start(extra).await;
        // The generated ext_authz config: every path goes to uid-gate (no bypass routes).
        let yaml = bootstrap(
            &config.policy,
            &envoy_options(false, echo, server.addr, GrpcClient::Envoy),
        )
        .expect("ext_authz bootstrap");
        let ext_authz = Envoy::start(&yaml).await;
        let so = tokio::task::spawn_blocking(|| crate::envoy_module::module_so(false))
            .await
            .expect("module");
        let module = Envoy::start_with(
            &crate::envoy_module::module_bootstrap(&config, echo, &so),
            &crate::envoy_module::module_env(&env(extra)),
            1,
        )
        .await;
        let mut differ = Vec::new();
        let mut statuses = std::collections::BTreeMap::new();
        for _ in 0..400 {
            let path = random_path(&mut rng);
            let auth = [Some(owner.as_str()), Some(other.as_str()), None][rng.below(3)];
            let want = answer(ext_authz.listener, &path, auth).await;
            *statuses.entry(want.0).or_insert(0) += 1;
            let got = answer(module.listener, &path, auth).await;
            if got != want {
                differ.push(format!(
                    "{path} ({auth:?}):\n  ext_authz {want:?}\n  module    {got:?}"
                ));
            }
        }
        // The comparison is only worth something if the paths reach every kind of answer.
        for status in [200, 400, 401, 403] {
            assert!(
                statuses.get(&status).is_some_and(|n| *n >= 10),
                "{extra:?}: {statuses:?}"
            );
        }
        assert!(
            differ.is_empty(),
            "{extra:?}: {} answers of 400 differ:\n{}",
            differ.len(),
            differ.join("\n")
        );
        server.stop().await;
    }
}
