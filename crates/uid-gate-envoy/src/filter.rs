//! One request through the core, in safe code: read `:path` and every `authorization` value,
//! judge, and render the answer through a [`Stream`] (Envoy's, or a test's).

use std::time::Duration;

use uid_gate_core::config::Reload;
use uid_gate_core::host::{HostError, HostKit};
use uid_gate_core::response::{Client, USER_ID_HEADER};
use uid_gate_core::{Answer, Reason, RequestView, unix_now};

use crate::request::{CONTENT_TYPE, IDENTITY_HEADERS, Request};
use crate::settings::{JwksSource, ModuleSettings};
use crate::stream::Stream;

/// Whether Envoy goes on with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: the next filter runs.
    Continue,
    /// Denied: a local reply was sent.
    Stop,
}

/// The filter configuration: the core's host kit (the authorizer, shared by every worker, the
/// secret file it re-reads and the JWKS schedule), and where the module fetches the JWKS.
#[derive(Debug)]
pub struct Gate {
    kit: HostKit,
    jwks: Option<JwksSource>,
}

/// The module's clock for the schedules: Unix seconds, as the decision's `now`.
fn clock(now: u64) -> Duration {
    Duration::from_secs(now)
}

impl Gate {
    /// Builds the gate from validated settings (the core's self-test first).
    pub fn new(m: ModuleSettings) -> Result<Self, HostError> {
        Ok(Self {
            kit: HostKit::new(m.settings, clock(unix_now()), None)?,
            jwks: m.jwks,
        })
    }

    /// The JWKS URL's source, when the module fetches one.
    pub fn jwks_source(&self) -> Option<&JwksSource> {
        self.jwks.as_ref()
    }

    /// Whether a JWKS fetch should start now; if so, the caller starts it and reports with
    /// [`Gate::jwks_fetched`]. At most one fetch is in flight.
    pub fn jwks_due(&self, now: u64) -> bool {
        self.jwks.is_some() && self.kit.jwks_start(clock(now))
    }

    /// A fetch ended: `Some(document)` for a 200 answer. New keys replace the old ones only
    /// when the document holds usable keys; otherwise the last good keys stay. Returns the
    /// number of keys in force, or the reason the fetch was not used.
    pub fn jwks_fetched(&self, now: u64, document: Option<&[u8]>) -> Result<usize, String> {
        let document = document.ok_or_else(|| "no 200 answer".to_owned());
        self.kit
            .jwks_fetched(clock(now), document)
            .map_err(|e| e.to_string())
    }

    /// Judges one request and renders the answer on `stream`.
    pub fn on_request_headers(&self, stream: &mut impl Stream) -> Verdict {
        let now = unix_now();
        self.maybe_reload(now, stream);
        #[cfg(feature = "test-panic")]
        if stream.header("x-uid-gate-test-panic", 0).1 > 0 {
            panic!("x-uid-gate-test-panic");
        }
        let authorizer = self.kit.authorizer();
        let request = Request::read(stream, authorizer.judges_method());
        // The benchmark's breakdown (`bench-abi-filter`): an allow's reads and writes through
        // Envoy, the decision left out.
        if cfg!(feature = "bench-abi-filter") {
            let present = request.identity_present;
            let user_id = Some("bench".to_owned());
            return render(
                Answer::Allow {
                    reason: Reason::Owner,
                    user_id,
                },
                stream,
                present,
            );
        }
        let path = request.path.unwrap_or_default();
        // A valid path is ASCII: checked as it is, copied (lossy) only when it is not UTF-8.
        let path = std::str::from_utf8(path).map_or_else(
            |_| String::from_utf8_lossy(path),
            std::borrow::Cow::Borrowed,
        );
        // `judge`, in its two steps: the client's form (its content type) is read only when a
        // deny is rendered.
        let decision = authorizer.decide(
            &RequestView {
                path: &path,
                authorization: request.authorization(),
                content_type: None,
                method: request.method.and_then(|m| std::str::from_utf8(m).ok()),
            },
            now,
        );
        let answer = Answer::rendered(decision, || Client::of(request.content_type(stream)));
        let present = request.identity_present;
        render(answer, stream, present)
    }

    /// Re-reads the secret file on the schedule's turns: one worker does it, the others go on
    /// with the secrets in force. A refused file keeps them (the core's rule).
    fn maybe_reload(&self, now: u64, stream: &mut impl Stream) {
        if !self.kit.reload_due(clock(now)) {
            return;
        }
        // Every outcome leaves the secrets as the core decided (a refused file keeps those in
        // force); the module only says what happened. A ConfigError holds the path and
        // lengths, never secret bytes.
        match self.kit.reload_secret_file() {
            Reload::Unchanged => {}
            Reload::Applied(keys) => stream.log(
                false,
                &format!("uid-gate: the secret file changed; {keys} secret(s) in force"),
            ),
            Reload::Refused(e) => stream.log(
                true,
                &format!(
                    "uid-gate: the secret file changed but was refused ({e}); keeping the previous secrets"
                ),
            ),
        }
    }
}

/// Renders an answer: on allow the verified identity replaces any client copy (or, on a public
/// path, every client copy is removed); on deny the core's status, headers and body.
/// `identity_present`: whether the client sent an identity header (`true` when not known).
pub fn render(answer: Answer, stream: &mut impl Stream, identity_present: bool) -> Verdict {
    stream.record(answer.reason());
    match answer {
        // The usual request carries no identity header: adding one is all there is to do
        // (replacing costs Envoy a search of every header per name).
        Answer::Allow { user_id, .. } if !identity_present => {
            if let Some(user_id) = user_id.as_deref() {
                stream.add_header(USER_ID_HEADER, user_id);
            }
            Verdict::Continue
        }
        Answer::Allow { user_id, .. } => {
            // Setting a header replaces every value it had; the other spellings go.
            for name in IDENTITY_HEADERS {
                let value = user_id.as_deref().filter(|_| name == USER_ID_HEADER);
                stream.set_header(name, value);
            }
            Verdict::Continue
        }
        Answer::Deny { reason, parts } => {
            let headers: Vec<(&str, &str)> = parts
                .headers
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            let details = format!("uid_gate_{}", reason.code());
            stream.send_response(parts.status, &headers, parts.body.as_bytes(), &details);
            Verdict::Stop
        }
    }
}

/// The answer to a fault inside the module (a caught panic): 503, fail closed, in the form
/// the request's client reads.
pub fn internal(stream: &impl Stream) -> Answer {
    Answer::internal(Client::of(stream.header(CONTENT_TYPE, 0).0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::from_config;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[derive(Default)]
    struct Fake {
        headers: Vec<(String, Vec<u8>)>,
        /// Too many headers to list: the filter reads them by name.
        unlisted: bool,
        sent: Option<(u16, String)>,
        sent_headers: Vec<(String, String)>,
        reasons: Vec<Reason>,
        logs: Vec<(bool, String)>,
    }

    impl Stream for Fake {
        fn header(&self, name: &str, index: usize) -> (Option<&[u8]>, usize) {
            let values: Vec<&[u8]> = self
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice())
                .collect();
            (values.get(index).copied(), values.len())
        }
        fn headers<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8])) -> bool {
            if self.unlisted {
                return false;
            }
            for (k, v) in &self.headers {
                visit(k.as_bytes(), v);
            }
            true
        }
        fn set_header(&mut self, name: &str, value: Option<&str>) {
            // Envoy's header names are case-insensitive.
            self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            if let Some(v) = value {
                self.headers.push((name.to_owned(), v.as_bytes().to_vec()));
            }
        }
        fn add_header(&mut self, name: &str, value: &str) {
            self.headers
                .push((name.to_owned(), value.as_bytes().to_vec()));
        }
        fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], _: &str) {
            self.sent = Some((status, String::from_utf8_lossy(body).into_owned()));
            self.sent_headers = headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        }
        fn record(&mut self, reason: Reason) {
            self.reasons.push(reason);
        }
        fn log(&mut self, warning: bool, message: &str) {
            self.logs.push((warning, message.to_owned()));
        }
    }

    fn gate() -> Gate {
        let env = [("BETTER_AUTH_SECRET".to_owned(), SECRET.to_owned())];
        Gate::new(
            from_config(br#"{"UIDGATE_PUBLIC_PATHS": "/api/auth"}"#, env.into_iter())
                .expect("settings"),
        )
        .expect("gate")
    }

    fn token(uid: &str) -> String {
        let claims = serde_json::json!({"uid": uid, "exp": unix_now() + 60});
        let t = uid_gate_core::mint::sign_claims(SECRET.as_bytes(), &claims).expect("sign");
        format!("Bearer {t}")
    }

    fn request(path: &str, extra: &[(&str, &str)]) -> Fake {
        let mut f = Fake::default();
        f.headers.push((":path".into(), path.as_bytes().to_vec()));
        for (k, v) in extra {
            f.headers.push(((*k).into(), v.as_bytes().to_vec()));
        }
        f
    }

    /// Every value the request has of `x-user-id` in either spelling.
    fn identities(f: &Fake) -> Vec<&[u8]> {
        f.headers
            .iter()
            .filter(|(k, _)| k.replace('_', "-").eq_ignore_ascii_case("x-user-id"))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    #[test]
    fn an_allow_replaces_every_client_identity() {
        let a = token("alice");
        // Listed or read by name; with client copies in every spelling, or one, or none.
        for unlisted in [false, true] {
            for spoofed in [
                &[
                    ("x-user-id", "bob"),
                    ("x-user-id", "eve"),
                    ("x_user_id", "eve"),
                ][..],
                &[("X-User-Id", "bob")],
                &[("x_user_id", "eve")],
                &[],
            ] {
                let mut f = request("/api/alice/x", &[("authorization", &a)]);
                f.headers.extend(
                    spoofed
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())),
                );
                f.unlisted = unlisted;
                assert_eq!(gate().on_request_headers(&mut f), Verdict::Continue);
                assert_eq!(
                    identities(&f),
                    [b"alice".as_slice()],
                    "{spoofed:?} {unlisted}"
                );
                assert_eq!(f.reasons, [Reason::Owner]);
                // A public path keeps no client copy either.
                let mut f = request("/api/auth/session", spoofed);
                f.unlisted = unlisted;
                assert_eq!(gate().on_request_headers(&mut f), Verdict::Continue);
                assert!(identities(&f).is_empty(), "{spoofed:?} {unlisted}");
            }
        }
    }

    #[test]
    fn denials_are_the_cores_answers() {
        let a = token("alice");
        let mut f = request("/api/bob/x", &[("authorization", &a)]);
        assert_eq!(gate().on_request_headers(&mut f), Verdict::Stop);
        let (status, body) = f.sent.expect("a local reply");
        assert_eq!(status, 403);
        assert!(body.contains("insufficient_scope"), "{body}");
        // Two different authorization values are two credentials, as through ext_authz.
        let mut f = request(
            "/api/alice/x",
            &[("authorization", &a), ("authorization", "Bearer a.b.c")],
        );
        assert_eq!(gate().on_request_headers(&mut f), Verdict::Stop);
        assert_eq!(f.reasons, [Reason::MultipleCredentials]);
        // A public path removes a client's identity and lets the request through.
        let mut f = request("/api/auth/session", &[("x-user-id", "bob")]);
        assert_eq!(gate().on_request_headers(&mut f), Verdict::Continue);
        assert!(f.header("x-user-id", 0).0.is_none());
    }

    #[test]
    fn the_internal_answer_fails_closed() {
        let mut f = request("/", &[]);
        assert_eq!(render(internal(&f), &mut f, true), Verdict::Stop);
        assert_eq!(f.sent.map(|(s, _)| s), Some(503));
        // A gRPC client reads the fault as UNAVAILABLE, never as Envoy's default OK.
        let mut f = request("/", &[("content-type", "application/grpc")]);
        assert_eq!(render(internal(&f), &mut f, true), Verdict::Stop);
        assert!(
            f.sent_headers
                .contains(&("grpc-status".into(), "14".into()))
        );
    }

    #[test]
    fn a_grpc_client_reads_the_deny_from_grpc_status() {
        let a = token("alice");
        let grpc = ("content-type", "application/grpc");
        let mut f = request("/api/bob/pkg.Tasks/Create", &[("authorization", &a), grpc]);
        assert_eq!(gate().on_request_headers(&mut f), Verdict::Stop);
        assert!(f.sent_headers.contains(&("grpc-status".into(), "7".into())));
        assert_eq!(
            f.sent.map(|(_, body)| body).as_deref(),
            Some("token user does not own this path")
        );
        // An HTTP client's deny carries no gRPC status.
        let mut f = request("/api/bob/x", &[("authorization", &a)]);
        assert_eq!(gate().on_request_headers(&mut f), Verdict::Stop);
        assert!(f.sent_headers.iter().all(|(k, _)| !k.starts_with("grpc-")));
    }

    #[test]
    fn a_secret_file_change_is_logged_and_a_refused_one_says_why_without_the_secret() {
        const NEW: &str = "new-secret-new-secret-new-secret-32";
        let dir =
            std::env::temp_dir().join(format!("uid-gate-module-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("secret");
        std::fs::write(&file, format!("{SECRET}\n")).expect("write");
        let env = [(
            "BETTER_AUTH_SECRET_FILE".to_owned(),
            file.display().to_string(),
        )];
        let g = Gate::new(
            from_config(br#"{"UIDGATE_SECRET_RELOAD_SECS": "1"}"#, env.into_iter())
                .expect("settings"),
        )
        .expect("gate");
        let later = unix_now() + 10;
        let mut f = Fake::default();
        g.maybe_reload(later, &mut f);
        assert!(f.logs.is_empty(), "unchanged: {:?}", f.logs);
        std::fs::write(&file, "short\n").expect("write");
        g.maybe_reload(later + 1, &mut f);
        std::fs::write(&file, format!("{NEW}\n")).expect("write");
        g.maybe_reload(later + 2, &mut f);
        std::fs::remove_dir_all(&dir).ok();
        let [(true, refused), (false, applied)] = &f.logs[..] else {
            panic!("{:?}", f.logs);
        };
        assert!(refused.contains("was refused"), "{refused}");
        assert!(!refused.contains("short"), "{refused}");
        assert!(applied.contains("1 secret(s) in force"), "{applied}");
        assert!(!applied.contains(NEW), "{applied}");
    }
}
