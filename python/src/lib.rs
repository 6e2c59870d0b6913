//! `uid_gate._uid_gate`: the thin PyO3 layer over `uid-gate-core`. It translates Python
//! values in and a [`Decision`] out; every rule lives in the core. The Python package
//! (`uid_gate`) wraps it with a typed, documented API.

// No `unsafe` of ours: PyO3's macros write the FFI, and allow it only in what they expand.
#![deny(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

mod decision;
use decision::Decision;
use uid_gate_core::config::Reload;
use uid_gate_core::host::HostKit;
use uid_gate_core::refresh::{FETCH_TIMEOUT, MAX_BYTES};
use uid_gate_core::response::{Answer, Client, Reason};
use uid_gate_core::{RequestView, Settings, unix_now};

create_exception!(
    _uid_gate,
    ConfigError,
    PyValueError,
    "A configuration problem; `var` names the variable it is about."
);

/// The gate: settings validated once, then one decision per request.
#[pyclass(frozen, module = "uid_gate._uid_gate", name = "_Gate")]
struct Gate {
    /// The decision and its key refreshes (the core's host kit), on this gate's clock
    /// (`started`). The Python refresher thread does the I/O it asks for.
    kit: HostKit,
    started: Instant,
}

/// The `authorization` values: `None`, one `str` or `bytes`, or a list/tuple of them.
fn header_values<'py>(value: Option<&Bound<'py, PyAny>>) -> PyResult<Vec<Vec<u8>>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let one = |v: &Bound<'py, PyAny>| -> PyResult<Vec<u8>> {
        if let Ok(b) = v.cast::<PyBytes>() {
            Ok(b.as_bytes().to_vec())
        } else if let Ok(s) = v.cast::<PyString>() {
            Ok(s.to_cow()?.as_bytes().to_vec())
        } else {
            Err(PyTypeError::new_err(
                "authorization values must be str or bytes",
            ))
        }
    };
    if value.is_none() {
        Ok(Vec::new())
    } else if let Ok(list) = value.cast::<PyList>() {
        list.iter().map(|v| one(&v)).collect()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().map(|v| one(&v)).collect()
    } else {
        Ok(vec![one(value)?])
    }
}

fn guarded(f: impl FnOnce() -> Decision) -> Decision {
    // A fault inside the binding becomes a deny: the gate never fails open.
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Answer::internal(Client::Http).into())
}

impl Gate {
    fn settings(&self) -> &Settings {
        self.kit.settings()
    }

    /// The decision for one request; `public: false` requires a token under public prefixes too.
    fn answer(
        &self,
        path: &str,
        authorization: &[&[u8]],
        public: bool,
        method: Option<&str>,
    ) -> Decision {
        // An ASGI app serves HTTP clients; gRPC reaches it never.
        let view = RequestView {
            path,
            authorization,
            content_type: None,
            method,
        };
        let authorizer = self.kit.authorizer();
        let decision = if public {
            authorizer.decide(&view, unix_now())
        } else {
            authorizer.decide_user(&view, unix_now())
        };
        let placeholders = match &decision {
            uid_gate_core::Decision::Allow(_) => authorizer.placeholders(path),
            uid_gate_core::Decision::Deny(_) => Vec::new(),
        };
        Decision {
            answer: Answer::from(decision),
            placeholders,
        }
    }
}

#[pymethods]
impl Gate {
    /// Builds a gate from (name, value) pairs with uid-gate's variable names and rules.
    #[staticmethod]
    fn from_vars(vars: Vec<(String, String)>) -> PyResult<Self> {
        let settings = Settings::from_vars(vars).map_err(|e| {
            let var = e.var();
            ConfigError::new_err((e.to_string(), var))
        })?;
        let started = Instant::now();
        let kit = HostKit::new(settings, started.elapsed(), None)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Self { kit, started })
    }

    /// Judges a request: `path` is the raw request target (`/api/alice/tasks?x=1`), as sent.
    /// `method`: the request method (`None`: unknown, so no admin override).
    #[pyo3(signature = (path, authorization=None, *, public=true, method=None))]
    fn check(
        &self,
        path: &str,
        authorization: Option<&Bound<'_, PyAny>>,
        public: bool,
        method: Option<&str>,
    ) -> PyResult<Decision> {
        let values = header_values(authorization)?;
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        Ok(guarded(|| self.answer(path, &refs, public, method)))
    }

    /// The same with raw ASGI values: `path` and each authorization value as bytes.
    #[pyo3(signature = (path, authorization, public, method=None))]
    fn check_raw(
        &self,
        path: &[u8],
        authorization: Vec<Bound<'_, PyBytes>>,
        public: bool,
        method: Option<&str>,
    ) -> Decision {
        // Borrowed, not copied: a `Vec<u8>` would be extracted byte by byte from each value.
        let refs: Vec<&[u8]> = authorization.iter().map(|b| b.as_bytes()).collect();
        // A raw target that is not UTF-8 has raw non-ASCII bytes: judge it as such.
        guarded(|| self.answer(&String::from_utf8_lossy(path), &refs, public, method))
    }

    /// The path rules for an identity a trusted gateway verified (`None`: no identity).
    #[pyo3(signature = (path, user_id))]
    fn check_identity(&self, path: &str, user_id: Option<&str>) -> Decision {
        guarded(|| Answer::from(self.kit.authorizer().decide_for_identity(path, user_id)).into())
    }

    /// Whether the refresher fetches the JWKS now (`force`: whatever the schedule says); if
    /// so, it reports with `jwks_fetched`. One fetch at a time.
    #[pyo3(signature = (force=false))]
    fn jwks_start(&self, force: bool) -> bool {
        if force && let Some(schedule) = self.kit.jwks() {
            schedule.expire();
        }
        self.kit.jwks_start(self.started.elapsed())
    }

    /// A fetch ended with `document` (a 200 answer's body) or `error`. Returns how many keys
    /// came in; raises `ValueError` when the keys in force stay (the core's rule).
    #[pyo3(signature = (document, error=None))]
    fn jwks_fetched(
        &self,
        py: Python<'_>,
        document: Option<&[u8]>,
        error: Option<String>,
    ) -> PyResult<usize> {
        let document = document.ok_or_else(|| error.unwrap_or_else(|| "no answer".into()));
        // Parsing a large document (RSA keys) takes time: other Python threads keep running.
        py.detach(|| self.kit.jwks_fetched(self.started.elapsed(), document))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Whether the secret file is due for a re-read now (one caller per turn).
    fn reload_due(&self) -> bool {
        self.kit.reload_due(self.started.elapsed())
    }

    /// Seconds until the next turn of either refresh (zero: now).
    fn refresh_wait(&self) -> f64 {
        let now = self.started.elapsed();
        let jwks = self.kit.jwks().map(|s| s.wait(now));
        let file = self.kit.reload_wait(now);
        jwks.into_iter()
            .chain(file)
            .min()
            .unwrap_or(Duration::MAX)
            .as_secs_f64()
    }

    /// Re-reads `BETTER_AUTH_SECRET_FILE`: "unchanged", "applied" or "refused" (old secrets stay).
    fn reload_secret_file(&self, py: Python<'_>) -> &'static str {
        // File I/O without the GIL: a hung mount (or a FIFO in the file's place) blocks this
        // refresh thread only, never the interpreter.
        py.detach(|| match self.kit.reload_secret_file() {
            Reload::Unchanged => "unchanged",
            Reload::Applied(_) => "applied",
            Reload::Refused(_) => "refused",
        })
    }

    /// Signs `payload` (the JSON text of the claims) with the gate's current HS256 secret, so
    /// the secret never reaches Python. For `uid_gate.testing` only; never on a request path.
    fn _mint(&self, payload: &str) -> PyResult<String> {
        self.kit.with_current_secret(|secret| {
            let Some(secret) = secret else {
                return Err(PyValueError::new_err(
                    "the gate has no HS256 secret (JWKS only): tokens for it come from the issuer",
                ));
            };
            uid_gate_core::mint::sign_raw(
                secret.expose(),
                br#"{"alg":"HS256","typ":"JWT"}"#,
                payload.as_bytes(),
            )
            .map_err(|e| PyValueError::new_err(e.to_string()))
        })
    }

    /// How many JWKS keys are in force.
    fn jwks_key_count(&self) -> usize {
        self.kit.authorizer().verifier().jwks_key_count()
    }

    #[getter]
    fn jwks_url(&self) -> Option<String> {
        self.settings().jwks_url.clone()
    }

    #[getter]
    fn jwks_refresh_secs(&self) -> u64 {
        self.settings().jwks_refresh.as_secs()
    }

    #[getter]
    fn secret_reload_secs(&self) -> u64 {
        self.settings().secret_reload_secs
    }

    #[getter]
    fn secret_file(&self) -> Option<String> {
        self.settings()
            .secret_file
            .as_ref()
            .map(|p| p.display().to_string())
    }

    #[getter]
    fn path_templates(&self) -> Vec<String> {
        self.settings()
            .path_templates
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    }

    /// Every placeholder name the templates use (the core's list).
    #[getter]
    fn placeholders(&self) -> Vec<String> {
        let paths = self.kit.authorizer().paths();
        paths
            .placeholder_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Valid settings that weaken the gate, for a start-up warning (`Settings::warnings`).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.settings().warnings()
    }

    #[getter]
    fn auth_only_paths(&self) -> Vec<String> {
        self.settings()
            .auth_only_paths
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    #[getter]
    fn public_paths(&self) -> Vec<String> {
        self.settings()
            .public_paths
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    }

    fn __repr__(&self) -> String {
        let secrets = self
            .settings()
            .secrets
            .as_ref()
            .map_or(0, |s| s.iter().count());
        format!(
            "Gate(secrets=[{secrets} redacted], path_templates={:?}, public_paths={:?}, jwks_url={:?})",
            self.path_templates(),
            self.public_paths(),
            self.settings().jwks_url
        )
    }
}

/// The reason code whose deny carries `description` (hosts behind a proxy see only bodies).
#[pyfunction]
fn reason_for_description(description: &str) -> Option<&'static str> {
    uid_gate_core::response::reason_for_description(description).map(Reason::code)
}

/// The core's variable names, in declaration order: Python derives its keyword arguments and
/// `Gate.from_env` from them, so a variable the core gains is never silently ignored.
#[pyfunction]
fn _variables() -> Vec<&'static str> {
    uid_gate_core::config::VARS.iter().map(|v| v.name).collect()
}

/// The core's warning for each of `names` that uid-gate owns but the core does not declare,
/// naming the closest declared variable.
#[pyfunction]
fn _unknown_var_warnings(names: Vec<String>) -> Vec<String> {
    let known: Vec<&str> = uid_gate_core::config::VARS.iter().map(|v| v.name).collect();
    uid_gate_core::config::vars::unknown_var_warnings(names.iter().map(String::as_str), &known)
}

/// The core's answer for a path the token's user does not own (403 `not_owner`).
#[pyfunction]
fn _not_owner() -> Decision {
    Answer::of(&uid_gate_core::Decision::Deny(
        uid_gate_core::decision::Denial::NotOwner,
    ))
    .into()
}

/// Panics inside uid-gate on purpose, to test that the binding fails closed.
#[pyfunction]
fn _panic_for_tests(gate: &Gate) -> Decision {
    let _ = gate;
    guarded(|| panic!("deliberate panic"))
}

#[pymodule]
fn _uid_gate(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_variables, m)?)?;
    m.add_function(wrap_pyfunction!(_unknown_var_warnings, m)?)?;
    m.add_class::<Gate>()?;
    // The fetch's I/O limits, from the core's schedule.
    m.add("JWKS_FETCH_TIMEOUT_SECS", FETCH_TIMEOUT.as_secs_f64())?;
    m.add("JWKS_MAX_BYTES", MAX_BYTES)?;
    m.add_class::<Decision>()?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(_not_owner, m)?)?;
    m.add_function(wrap_pyfunction!(reason_for_description, m)?)?;
    Ok(())
}
