//! What every host wraps around the decision, assembled once: the verifier's self-test, the
//! settings turned into an [`Authorizer`], the JWKS schedule wired to the unknown-`kid` hook,
//! and the secret file's re-read on its schedule. The server, the Envoy module and the Python
//! package each hold one [`HostKit`] and do only their own I/O (fetching the JWKS URL, logging,
//! counting) around it; a new host is an adapter over this, never another assembly.
//!
//! Time is the host's clock as a [`Duration`] since a start it chooses, as in
//! [`crate::refresh`]; the decision's `now` stays Unix seconds.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::{Reload, Secret, SecretSet, Settings, reload_secret_file};
use crate::decision::Authorizer;
use crate::refresh::{JwksSchedule, RefreshError, ReloadSchedule};
use crate::verify::{self, UnknownKidHook};

/// Why a host cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The HS256 check disagrees with jsonwebtoken's (a crypto backend missing or doubly
    /// enabled): no token could be judged correctly.
    #[error(
        "the token verifier failed its self-test (jsonwebtoken's crypto backend is missing, doubled or disagrees with uid-gate's HMAC)"
    )]
    SelfTest,
}

/// The decision with its key refreshes, as every host runs it.
#[derive(Debug)]
pub struct HostKit {
    settings: Settings,
    authorizer: Arc<Authorizer>,
    /// `Some` when a JWKS URL is configured.
    jwks: Option<Arc<JwksSchedule>>,
    reload: ReloadSchedule,
    /// The secrets in force, to tell a changed secret file from an unchanged one.
    secrets: Mutex<Option<SecretSet>>,
}

impl HostKit {
    /// Runs the verifier's self-test and builds the authorizer from `settings`. `now` starts
    /// the secret file's schedule; `wake` is called, besides marking the JWKS schedule, when a
    /// token names an unknown `kid` (a host whose fetcher sleeps wakes it there).
    pub fn new(
        settings: Settings,
        now: Duration,
        wake: Option<UnknownKidHook>,
    ) -> Result<Self, HostError> {
        verify::self_test().map_err(|_| HostError::SelfTest)?;
        let mut authorizer = settings.authorizer();
        let jwks = settings
            .jwks_url
            .as_ref()
            .map(|_| Arc::new(JwksSchedule::new(settings.jwks_refresh)));
        if let Some(schedule) = &jwks {
            let schedule = schedule.clone();
            authorizer.set_unknown_kid_hook(Arc::new(move || {
                schedule.unknown_kid();
                if let Some(wake) = &wake {
                    wake();
                }
            }));
        }
        Ok(Self {
            reload: ReloadSchedule::new(Duration::from_secs(settings.secret_reload_secs), now),
            secrets: Mutex::new(settings.secrets.clone()),
            authorizer: Arc::new(authorizer),
            jwks,
            settings,
        })
    }

    /// The validated settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The decision, shared with whatever serves requests.
    pub fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }

    /// The JWKS schedule, when a JWKS URL is configured.
    pub fn jwks(&self) -> Option<&Arc<JwksSchedule>> {
        self.jwks.as_ref()
    }

    /// Whether the host starts a JWKS fetch now (one at a time; see [`JwksSchedule::start`]).
    pub fn jwks_start(&self, now: Duration) -> bool {
        self.jwks.as_ref().is_some_and(|s| s.start(now))
    }

    /// A fetch ended with `document` (a 200 answer's body) or why it failed: usable keys
    /// replace those in force. Returns how many came in.
    pub fn jwks_fetched(
        &self,
        now: Duration,
        document: Result<&[u8], String>,
    ) -> Result<usize, RefreshError> {
        match &self.jwks {
            Some(s) => s.fetched(now, document, self.authorizer.verifier()),
            None => Err(RefreshError::Fetch("no JWKS URL is configured".into())),
        }
    }

    /// Whether the secret file is due for a re-read now (one caller per turn; never without
    /// a file).
    pub fn reload_due(&self, now: Duration) -> bool {
        self.settings.secret_file.is_some() && self.reload.due(now)
    }

    /// How long from `now` until the secret file's next turn; `None` without a file.
    pub fn reload_wait(&self, now: Duration) -> Option<Duration> {
        self.settings
            .secret_file
            .as_ref()
            .map(|_| self.reload.wait(now))
    }

    /// Re-reads the secret file ([`reload_secret_file`]'s rule): new valid secrets replace
    /// those in force; anything else keeps them. `Unchanged` without a file.
    pub fn reload_secret_file(&self) -> Reload {
        let Some(path) = &self.settings.secret_file else {
            return Reload::Unchanged;
        };
        let mut current = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_mut() {
            Some(current) => reload_secret_file(path, self.authorizer.verifier(), current),
            None => Reload::Unchanged,
        }
    }

    /// Calls `f` with the current HS256 secret (`None`: JWKS only), e.g. to mint test tokens;
    /// the secret never leaves the closure's scope.
    pub fn with_current_secret<T>(&self, f: impl FnOnce(Option<&Secret>) -> T) -> T {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        f(secrets.as_ref().map(|s| &s.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings(extra: &[(&str, String)]) -> Settings {
        let mut vars: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        vars.push(("UIDGATE_SECRET_RELOAD_SECS".into(), "5".into()));
        Settings::from_vars(vars).expect("settings")
    }

    #[test]
    fn the_secret_file_is_re_read_on_its_turns_and_kept_when_refused() {
        let dir = std::env::temp_dir().join(format!("uid-gate-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("secret");
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        std::fs::write(&file, &a).expect("write");
        let path = file.display().to_string();
        let kit = HostKit::new(
            settings(&[("BETTER_AUTH_SECRET_FILE", path)]),
            Duration::ZERO,
            None,
        )
        .expect("kit");
        assert!(!kit.reload_due(Duration::from_secs(4)));
        assert_eq!(
            kit.reload_wait(Duration::from_secs(4)),
            Some(Duration::from_secs(1))
        );
        assert!(kit.reload_due(Duration::from_secs(5)));
        assert!(
            !kit.reload_due(Duration::from_secs(5)),
            "one caller per turn"
        );
        assert!(matches!(kit.reload_secret_file(), Reload::Unchanged));
        std::fs::write(&file, format!("{b}\n{a}\n")).expect("write");
        assert!(matches!(kit.reload_secret_file(), Reload::Applied(2)));
        assert_eq!(kit.authorizer().verifier().key_count(), 2);
        kit.with_current_secret(|s| assert_eq!(s.map(Secret::expose), Some(b.as_bytes())));
        std::fs::write(&file, "short").expect("write");
        assert!(matches!(kit.reload_secret_file(), Reload::Refused(_)));
        assert_eq!(kit.authorizer().verifier().key_count(), 2, "kept");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn without_a_file_or_a_url_there_is_nothing_to_refresh() {
        let kit = HostKit::new(
            settings(&[("BETTER_AUTH_SECRET", "s".repeat(32))]),
            Duration::ZERO,
            None,
        )
        .expect("kit");
        assert!(!kit.reload_due(Duration::from_secs(3600)));
        assert_eq!(kit.reload_wait(Duration::ZERO), None);
        assert!(matches!(kit.reload_secret_file(), Reload::Unchanged));
        assert!(kit.jwks().is_none() && !kit.jwks_start(Duration::ZERO));
        assert!(kit.jwks_fetched(Duration::ZERO, Ok(b"{}")).is_err());
        kit.with_current_secret(|s| assert_eq!(s.map(|s| s.expose().len()), Some(32)));
    }

    #[test]
    fn an_unknown_kid_marks_the_schedule_and_wakes_the_host() {
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = woken.clone();
        let kit = HostKit::new(
            settings(&[("UIDGATE_JWKS_URL", "http://issuer.test/jwks".into())]),
            Duration::ZERO,
            Some(Arc::new(move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })),
        )
        .expect("kit");
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"97Yhx7b2mtJNolyMWDLJiLqX0j0tCfq7MMiv3-mFbj0","kid":"k1","alg":"EdDSA"}]}"#;
        assert!(kit.jwks_start(Duration::ZERO));
        assert_eq!(
            kit.jwks_fetched(Duration::ZERO, Ok(jwks.as_bytes())).ok(),
            Some(1)
        );
        let schedule = kit.jwks().expect("schedule");
        assert_eq!(schedule.wait(Duration::ZERO), Duration::from_secs(300));
        let token = "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.e30.c2ln";
        let _ = kit.authorizer().verifier().verify(token, 0);
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        assert!(
            schedule.wait(Duration::from_secs(3)).is_zero(),
            "fetched early"
        );
    }
}
