//! The `Decision` Python sees: an answer in HTTP terms, and on an allow under a template the
//! placeholders that matched.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use uid_gate_core::response::Answer;

/// What the gate answered, in HTTP terms.
#[pyclass(frozen, module = "uid_gate._uid_gate", name = "Decision")]
pub(crate) struct Decision {
    pub(crate) answer: Answer,
    /// The judging template's placeholders and their segments, on an allow under a template.
    pub(crate) placeholders: Vec<(String, String)>,
}

impl From<Answer> for Decision {
    fn from(answer: Answer) -> Self {
        Decision {
            answer,
            placeholders: Vec::new(),
        }
    }
}

#[pymethods]
impl Decision {
    /// Whether the request may pass.
    #[getter]
    fn allowed(&self) -> bool {
        self.answer.is_allow()
    }

    /// Whether a template judged the path and allowed it (`owner`, `member`, `admin`): the
    /// core's `Reason::judged_by_template`, for an allow.
    #[getter]
    fn templated(&self) -> bool {
        self.answer.is_allow() && self.answer.reason().judged_by_template()
    }

    /// 200 for an allow; 400, 401, 403 (or 503) for a deny.
    #[getter]
    fn status(&self) -> u16 {
        self.answer.status()
    }

    /// The stable reason code (`owner`, `expired`, `not_owner`, ...).
    #[getter]
    fn reason(&self) -> &'static str {
        self.answer.reason().code()
    }

    /// The verified user id (`None` on public paths and denies).
    #[getter]
    fn user_id(&self) -> Option<&str> {
        match &self.answer {
            Answer::Allow { user_id, .. } => user_id.as_deref(),
            Answer::Deny { .. } => None,
        }
    }

    /// The RFC 6750 `error` code (`invalid_token`, ...); `None` for allows and a bare challenge.
    #[getter]
    fn error(&self) -> Option<&'static str> {
        match &self.answer {
            Answer::Deny { parts, .. } => parts.kind.error_code(),
            Answer::Allow { .. } => None,
        }
    }

    /// The deny's headers as (name, value) pairs: `www-authenticate`, `content-type`,
    /// `cache-control`; empty for an allow.
    #[getter]
    fn headers(&self) -> Vec<(&'static str, String)> {
        match &self.answer {
            Answer::Deny { parts, .. } => parts.headers.clone(),
            Answer::Allow { .. } => Vec::new(),
        }
    }

    /// On an allow under a template, its placeholders and their decoded segments
    /// (`{"org_id": "o1"}`); empty otherwise.
    #[getter]
    fn placeholders(&self) -> std::collections::HashMap<String, String> {
        self.placeholders.iter().cloned().collect()
    }

    /// The deny's JSON body (`{"error":..,"error_description":..}`); `None` for an allow.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match &self.answer {
            Answer::Deny { parts, .. } => Some(PyBytes::new(py, parts.body.as_bytes())),
            Answer::Allow { .. } => None,
        }
    }

    fn __repr__(&self) -> String {
        // Python's spelling: True/False, None, quoted strings.
        let user = match self.user_id() {
            None => "None".to_owned(),
            Some(u) => format!("{u:?}"),
        };
        let allowed = if self.allowed() { "True" } else { "False" };
        format!(
            "Decision(allowed={allowed}, status={}, reason={:?}, user_id={user})",
            self.status(),
            self.reason(),
        )
    }
}
