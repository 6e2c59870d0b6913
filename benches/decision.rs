//! Micro-benchmark of the pure decision function (no gRPC, no logging): a valid token on
//! the owner's path, a bad signature, and another user's path.
//! `cargo bench --bench decision`; under `cargo test` each case runs once as a smoke test.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use uid_gate::decision::{Authorizer, Decision, RequestView};
use uid_gate::path_policy::{PathPolicy, PathPrefix, PathTemplate};
use uid_gate::verify::{ClaimRules, Verifier};

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret-0123";
const NOW: u64 = 1_800_000_000;

fn authorizer() -> Authorizer {
    let verifier = Verifier::new(
        &[SECRET],
        ClaimRules {
            uid_claims: vec!["uid".into(), "sub".into()],
            leeway_secs: 30,
            issuer: None,
            audiences: vec![],
        },
    );
    let paths = PathPolicy::new(
        vec![PathTemplate::parse("/api/{user_id}").expect("template")],
        vec![PathPrefix::parse("/api/auth").expect("prefix")],
    );
    Authorizer::new(verifier, paths, 8192)
}

fn bench(c: &mut Criterion) {
    let gate = authorizer();
    // A realistic Better Auth-style token: uid, sub, email, iat, exp.
    let claims = json!({"uid": "usr_8f14e45fceea167a", "sub": "usr_8f14e45fceea167a", "email": "alice@example.com", "iat": NOW - 10, "exp": NOW + 900});
    let token = uid_gate::mint::sign_claims(SECRET, &claims).expect("sign");
    let good = format!("Bearer {token}");
    let (msg, sig) = token.rsplit_once('.').expect("parts");
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let bad = format!("Bearer {msg}.{flipped}{}", &sig[1..]);

    let mut group = c.benchmark_group("decide");
    for (name, path, auth, want) in [
        (
            "valid_owner",
            "/api/usr_8f14e45fceea167a/tasks?page=2",
            good.as_str(),
            200,
        ),
        (
            "bad_signature",
            "/api/usr_8f14e45fceea167a/tasks",
            bad.as_str(),
            401,
        ),
        (
            "other_user",
            "/api/usr_c9f0f895fb98ab91/tasks",
            good.as_str(),
            403,
        ),
    ] {
        let values = [auth.as_bytes()];
        let view = RequestView {
            path,
            authorization: &values,
        };
        assert_eq!(gate.decide(&view, NOW).http_status(), want, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let d: Decision = gate.decide(black_box(&view), black_box(NOW));
                black_box(d)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
