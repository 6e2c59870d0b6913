//! The refresh schedule, tick by tick: what is due when, what a fetch keeps, and that one
//! caller wins each turn.

use super::*;
use crate::{Authorizer, Settings};

const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"97Yhx7b2mtJNolyMWDLJiLqX0j0tCfq7MMiv3-mFbj0"}"#;

fn jwks_authorizer() -> Authorizer {
    Settings::from_vars([(
        "UIDGATE_JWKS_URL".to_owned(),
        "https://issuer.example/api/auth/jwks".to_owned(),
    )])
    .expect("settings")
    .authorizer()
}

fn doc() -> String {
    format!(r#"{{"keys":[{ED_JWK}]}}"#)
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn the_first_fetch_is_due_at_once_then_every_interval() {
    let a = jwks_authorizer();
    let j = JwksSchedule::new(s(300));
    assert_eq!(j.wait(s(1000)), Duration::ZERO);
    assert!(j.start(s(1000)));
    assert!(!j.start(s(1000)), "a second fetch while one is in flight");
    assert_eq!(
        j.fetched(s(1000), Ok(doc().as_bytes()), a.verifier())
            .expect("keys"),
        1
    );
    assert_eq!(a.verifier().jwks_key_count(), 1);
    assert_eq!(j.wait(s(1000)), s(300));
    assert!(!j.start(s(1299)));
    assert!(j.start(s(1300)));
    j.fetched(s(1300), Ok(doc().as_bytes()), a.verifier())
        .expect("keys");
    j.expire();
    assert!(j.start(s(1301)), "a refresh asked for now");
}

#[test]
fn a_failed_or_unusable_fetch_keeps_the_keys_and_retries_soon() {
    let a = jwks_authorizer();
    let j = JwksSchedule::new(s(300));
    assert!(j.start(s(0)));
    j.fetched(s(0), Ok(doc().as_bytes()), a.verifier())
        .expect("keys");
    for (at, document) in [
        (300, Err("HTTP 503".to_owned())),
        (305, Ok(br#"{"keys":[]}"#.to_vec())),
        (310, Ok(vec![b' '; MAX_BYTES + 1])),
    ] {
        assert!(j.start(s(at)), "due at {at}");
        let got = j.fetched(
            s(at),
            document.as_deref().map_err(Clone::clone),
            a.verifier(),
        );
        assert!(got.is_err(), "at {at}: {got:?}");
        assert_eq!(a.verifier().jwks_key_count(), 1, "the last good keys stay");
        assert_eq!(j.wait(s(at)), RETRY);
    }
    // The retry is never later than the interval itself.
    let short = JwksSchedule::new(s(1));
    assert!(short.start(s(0)));
    let _ = short.fetched(s(0), Err("down".into()), a.verifier());
    assert_eq!(short.wait(s(0)), s(1));
}

#[test]
fn a_document_of_exactly_the_cap_is_taken_one_byte_more_is_not() {
    let a = jwks_authorizer();
    let j = JwksSchedule::new(s(1));
    let padded = |len: usize| {
        let mut d = doc().into_bytes();
        d.resize(len, b' ');
        d
    };
    assert!(j.start(s(0)));
    assert_eq!(
        j.fetched(s(0), Ok(&padded(MAX_BYTES)), a.verifier())
            .expect("at the cap"),
        1
    );
    assert!(j.start(s(1)));
    let over = j.fetched(s(1), Ok(&padded(MAX_BYTES + 1)), a.verifier());
    assert!(matches!(over, Err(RefreshError::TooLarge)), "{over:?}");
}

#[test]
fn an_unknown_kid_fetches_early_but_not_more_often_than_the_floor() {
    let a = jwks_authorizer();
    let j = JwksSchedule::new(s(3600));
    assert!(j.start(s(100)));
    j.fetched(s(100), Ok(doc().as_bytes()), a.verifier())
        .expect("keys");
    j.unknown_kid();
    assert_eq!(j.wait(s(101)), s(1), "MIN_REFETCH after the last fetch");
    assert!(!j.start(s(101)));
    assert!(j.start(s(102)));
    // The miss was taken by that fetch; the next one waits for the interval again.
    j.fetched(s(102), Ok(doc().as_bytes()), a.verifier())
        .expect("keys");
    assert_eq!(j.wait(s(110)), s(3592));
    // A miss seen during a fetch asks again after the floor.
    j.unknown_kid();
    assert!(j.start(s(200)));
    j.unknown_kid();
    j.fetched(s(200), Ok(doc().as_bytes()), a.verifier())
        .expect("keys");
    assert_eq!(j.wait(s(200)), MIN_REFETCH);
}

#[test]
fn the_secret_file_is_reread_every_interval_by_one_caller() {
    let r = ReloadSchedule::new(s(5), s(50));
    assert_eq!(r.wait(s(50)), s(5));
    assert!(!r.due(s(54)));
    assert!(r.due(s(55)));
    assert!(!r.due(s(55)), "one caller per turn");
    assert_eq!(r.wait(s(56)), s(4));
    // A late turn counts from when it ran, not from when it was due.
    assert!(r.due(s(70)));
    assert_eq!(r.wait(s(70)), s(5));
}

#[test]
fn a_clock_at_its_limits_saturates_instead_of_wrapping() {
    let j = JwksSchedule::new(Duration::MAX);
    assert!(j.start(Duration::MAX));
    let _ = j.fetched(Duration::MAX, Err("x".into()), jwks_authorizer().verifier());
    let r = ReloadSchedule::new(Duration::MAX, Duration::MAX);
    assert!(r.due(Duration::MAX));
}
