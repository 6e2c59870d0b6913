//! Micro-benchmark of the pure decision function (no gRPC, no logging): a valid token on
//! the owner's path, a bad signature, and another user's path.
//! `cargo bench --bench decision`; under `cargo test` each case runs once as a smoke test.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use uid_gate::decision::{Authorizer, Decision, RequestView};
use uid_gate_core::config::Settings;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret-0123";
const NOW: u64 = 1_800_000_000;

/// The defaults (template /api/{user_id}, claims uid then sub, 30 s leeway), as the service
/// builds them from its variables.
fn authorizer() -> Authorizer {
    let secret = std::str::from_utf8(SECRET).expect("utf8");
    let vars = [
        ("BETTER_AUTH_SECRET", secret),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth"),
    ];
    Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned())))
        .expect("settings")
        .authorizer()
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
            content_type: None,
            method: None,
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
