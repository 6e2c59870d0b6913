//! The conformance table (`tests/conformance/cases.json`): loading, placeholders, token
//! recipes and per-host expectations. One runner per enforcement point reads it; this file
//! is shared by the test crates through `#[path]`, so it depends on nothing of theirs.
//!
//! Placeholders in strings: `{now}`, `{now+N}`, `{now-N}` (a claim value that is exactly one
//! of these becomes an integer), `{repeat:TEXT:N}`, `{token}`, `{token.NAME}`, and in config
//! values `{key:NAME}` (a secret) and `{file:NAME}` (a temp file holding `files.NAME`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

// Comparing answers and reporting them, beside this file (a `#[path]` in a file is relative
// to that file's directory, so both test crates find it).
#[path = "report.rs"]
mod report;
pub use report::*;

/// The repository root (this file is included by test crates at two depths).
fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/conformance/cases.json").exists() {
        assert!(
            dir.pop(),
            "tests/conformance/cases.json not found above the crate"
        );
    }
    dir
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("uid-gate-conformance-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// What a host answered, in the table's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: u16,
    /// The `error` of the `WWW-Authenticate` challenge (`None` for a bare one or an allow).
    pub error: Option<String>,
    /// The reason code, `None` where the host cannot observe it (proxies on allows).
    pub reason: Option<String>,
    /// The identity the upstream got (`None`: no `x-user-id`).
    pub user: Option<String>,
    /// The `grpc-status` of the answer (headers or trailers), as a gRPC client reads it.
    pub grpc_status: Option<i32>,
}

/// One case, with its placeholders expanded for a run.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub config: Vec<(String, String)>,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Which kind of client sends it: `http`, or `grpc` and `grpc-web` (see `clients` in the
    /// table: the hosts that can carry such a client).
    pub client: String,
    pub expect: Expect,
    /// Why this host's answer differs from the case's own, if it does.
    pub host_difference: Option<String>,
}

/// The expected answer for one host.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: u16,
    pub error: Option<String>,
    pub reason: String,
    pub user: Option<String>,
    /// The `grpc-status` a gRPC client reads (`None` for HTTP clients and allowed calls).
    pub grpc_status: Option<i32>,
}

impl Case {
    /// Whether a gRPC (or gRPC-Web) client sends this case.
    pub fn is_grpc(&self) -> bool {
        self.client != "http"
    }
}

/// The table, loaded once per runner.
pub struct Table {
    doc: Value,
    dir: TempDir,
    /// The time tokens are built for (seconds since the epoch).
    pub now: u64,
}

/// Cases grouped by configuration, and the skipped ones.
pub type Groups = (
    BTreeMap<Vec<(String, String)>, Vec<Case>>,
    Vec<(String, String)>,
);

/// Either a case to run on a host or the reason the host cannot express it.
// A plan is a short-lived list of a few hundred cases: boxing the case would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Planned {
    Run(Case),
    Skip { id: String, why: String },
}

impl Table {
    pub fn load() -> Self {
        let path = repo_root().join("tests/conformance/cases.json");
        let text = std::fs::read_to_string(&path).expect("cases.json");
        let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
        let dir = TempDir::new();
        for (name, content) in doc["files"].as_object().expect("files") {
            std::fs::write(dir.path().join(name), content.to_string()).expect("write file");
        }
        Self {
            doc,
            dir,
            now: now(),
        }
    }

    fn cases(&self) -> &Vec<Value> {
        self.doc["cases"].as_array().expect("cases")
    }

    pub fn len(&self) -> usize {
        self.cases().len()
    }

    /// Every case as `host` should see it.
    pub fn plan(&self, host: &str) -> Vec<Planned> {
        self.cases()
            .iter()
            .map(|c| self.plan_one(c, host))
            .collect()
    }

    /// The same cases with their tokens built again at the current time, so a slow runner
    /// never sends a token that has aged past its case's intent (e.g. "within leeway").
    pub fn refresh(&mut self, host: &str, cases: Vec<Case>) -> Vec<Case> {
        self.now = now();
        cases
            .into_iter()
            .map(|case| {
                let c = self
                    .cases()
                    .iter()
                    .find(|c| c["id"] == case.id.as_str())
                    .expect("case");
                match self.plan_one(c, host) {
                    Planned::Run(fresh) => fresh,
                    Planned::Skip { .. } => case,
                }
            })
            .collect()
    }

    /// One case with its token built again now: for runners slow enough (a proxy under
    /// load) that a group's last case would otherwise carry a token aged past its intent.
    pub fn refresh_one(&mut self, host: &str, case: Case) -> Case {
        let mut fresh = self.refresh(host, vec![case]);
        fresh.pop().expect("one case in, one out")
    }

    fn plan_one(&self, c: &Value, host: &str) -> Planned {
        let id = c["id"].as_str().expect("id").to_owned();
        // A case's own entry for the host, else for its family (`envoy` for every `envoy_*`).
        let family = host.split('_').next().unwrap_or(host);
        let over = [&c["hosts"][host], &c["hosts"][family]]
            .into_iter()
            .find(|o| o.is_object())
            .unwrap_or(&Value::Null);
        if let Some(why) = over["skip"].as_str() {
            return Planned::Skip {
                id,
                why: why.to_owned(),
            };
        }
        // A gRPC client is carried only by the hosts the table names for it.
        let client = c["request"]["client"].as_str().unwrap_or("http");
        if client != "http" {
            let kind = &self.doc["clients"][client];
            let hosts = kind["hosts"].as_array().expect("clients: hosts");
            if !hosts.iter().any(|h| h == host) {
                let why = kind["skip"].as_str().expect("clients: skip");
                return Planned::Skip {
                    id,
                    why: why.to_owned(),
                };
            }
        }
        let mut expect = c["expect"].clone();
        let rules = self.doc["host_rules"][host]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let rule = (!over.is_object())
            .then(|| {
                rules.into_iter().find(|r| {
                    r["when"]
                        .as_object()
                        .is_some_and(|w| w.iter().all(|(k, v)| c["expect"][k] == *v))
                })
            })
            .flatten();
        let host_difference = [
            &over["why"],
            rule.as_ref().map_or(&Value::Null, |r| &r["why"]),
        ]
        .into_iter()
        .find_map(|w| w.as_str().map(str::to_owned));
        for o in [
            over["expect"].as_object(),
            rule.as_ref().and_then(|r| r["expect"].as_object()),
        ]
        .into_iter()
        .flatten()
        {
            for (k, v) in o {
                expect[k] = v.clone();
            }
        }
        let defaults = &self.doc["defaults"];
        let mut tokens: BTreeMap<String, String> = BTreeMap::new();
        if let Some(t) = c.get("token") {
            tokens.insert(String::new(), self.token(t));
        }
        if let Some(lit) = c["token_literal"].as_str() {
            tokens.insert(String::new(), self.expand(lit, &BTreeMap::new()));
        }
        if let Some(named) = c["tokens"].as_object() {
            for (name, t) in named {
                tokens.insert(name.clone(), self.token(t));
            }
        }
        let req = &c["request"];
        let headers = match req.get("headers") {
            Some(h) => h,
            None if tokens.is_empty() => &Value::Array(vec![]),
            None => &defaults["request"]["headers"],
        };
        let headers = headers
            .as_array()
            .expect("headers")
            .iter()
            .map(|pair| {
                let k = pair[0].as_str().expect("header name").to_owned();
                let v = self.expand(pair[1].as_str().expect("header value"), &tokens);
                (k, v)
            })
            .collect();
        let mut config: BTreeMap<String, String> = BTreeMap::new();
        for source in [&defaults["config"], &c["config"]] {
            for (k, v) in source.as_object().into_iter().flatten() {
                config.insert(
                    k.clone(),
                    self.expand(v.as_str().expect("config value"), &tokens),
                );
            }
        }
        config.retain(|_, v| !v.is_empty());
        Planned::Run(Case {
            id,
            config: config.into_iter().collect(),
            method: req["method"]
                .as_str()
                .or(defaults["request"]["method"].as_str())
                .expect("method")
                .to_owned(),
            path: self.expand(
                req["path"]
                    .as_str()
                    .or(defaults["request"]["path"].as_str())
                    .expect("path"),
                &tokens,
            ),
            headers,
            client: client.to_owned(),
            host_difference,
            expect: Expect {
                status: expect["status"].as_u64().expect("status") as u16,
                error: expect["error"].as_str().map(str::to_owned),
                reason: expect["reason"].as_str().expect("reason").to_owned(),
                user: expect["user"].as_str().map(str::to_owned),
                grpc_status: expect["grpc_status"]
                    .as_i64()
                    .map(|n| i32::try_from(n).expect("grpc_status")),
            },
        })
    }

    /// Expands placeholders in `s`.
    pub fn expand(&self, s: &str, tokens: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match self.placeholder(tail, tokens) {
                Some((value, used)) => {
                    out.push_str(&value);
                    rest = &tail[used..];
                }
                None => {
                    out.push('{');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The value of the placeholder at the start of `s` and its length, if it is one.
    fn placeholder(&self, s: &str, tokens: &BTreeMap<String, String>) -> Option<(String, usize)> {
        let end = s.find('}')?;
        let inner = &s[1..end];
        let value = if let Some(n) = self.time(inner) {
            n.to_string()
        } else if let Some(r) = inner.strip_prefix("repeat:") {
            let (text, n) = r.rsplit_once(':')?;
            text.repeat(n.parse().ok()?)
        } else if inner == "token" {
            tokens.get("")?.clone()
        } else if let Some(name) = inner.strip_prefix("token.") {
            tokens.get(name)?.clone()
        } else if let Some(name) = inner.strip_prefix("key:") {
            self.doc["keys"][name]["secret"].as_str()?.to_owned()
        } else if let Some(name) = inner.strip_prefix("file:") {
            self.file(name).to_str()?.to_owned()
        } else {
            return None;
        };
        Some((value, end + 1))
    }

    fn time(&self, inner: &str) -> Option<u64> {
        let rest = inner.strip_prefix("now")?;
        if rest.is_empty() {
            return Some(self.now);
        }
        let (sign, n) = rest.split_at(1);
        let n: u64 = n.parse().ok()?;
        match sign {
            "+" => Some(self.now + n),
            "-" => Some(self.now - n),
            _ => None,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Claims with `{now±N}` values as integers and other strings expanded.
    fn claims(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                if let Some(n) = s
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .and_then(|i| self.time(i))
                {
                    Value::from(n)
                } else {
                    Value::String(self.expand(s, &BTreeMap::new()))
                }
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), self.claims(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| self.claims(v)).collect()),
            other => other.clone(),
        }
    }

    /// Builds a token from a recipe (see the README's table format).
    pub fn token(&self, recipe: &Value) -> String {
        let d = &self.doc["defaults"]["token"];
        let none = BTreeMap::new();
        let alg = recipe["alg"].as_str().or(d["alg"].as_str()).expect("alg");
        let header = match recipe["header_raw"].as_str() {
            Some(raw) => self.expand(raw, &none),
            None => recipe.get("header").unwrap_or(&d["header"]).to_string(),
        };
        let payload_b64 = match (
            recipe["payload_raw"].as_str(),
            recipe["payload_b64"].as_str(),
        ) {
            (Some(raw), _) => URL_SAFE_NO_PAD.encode(self.expand(raw, &none)),
            (None, Some(b64)) => b64.to_owned(),
            (None, None) => URL_SAFE_NO_PAD.encode(self.claims(&recipe["claims"]).to_string()),
        };
        let message = format!("{}.{payload_b64}", URL_SAFE_NO_PAD.encode(header));
        let key_name = recipe["key"]
            .as_str()
            .unwrap_or(if alg == "EdDSA" { "ed" } else { "main" });
        let key = &self.doc["keys"][key_name];
        let signature = match alg {
            "EdDSA" => {
                let pem = key["ed25519_pkcs8_pem"].as_str().expect("ed key");
                // PKCS#8 DER inside the PEM armour (no PEM feature needed).
                let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("PEM body");
                let k = EncodingKey::from_ed_der(&der);
                jsonwebtoken::crypto::sign(message.as_bytes(), &k, Algorithm::EdDSA)
            }
            _ => {
                let secret = key["secret"].as_str().expect("secret");
                let k = EncodingKey::from_secret(secret.as_bytes());
                jsonwebtoken::crypto::sign(message.as_bytes(), &k, Algorithm::HS256)
            }
        }
        .expect("sign");
        let mut token = match recipe["signature"].as_str() {
            None => format!("{message}.{signature}"),
            Some("empty") => format!("{message}."),
            Some("strip") => message.clone(),
            Some("flip_last") => {
                let last = signature.chars().last().expect("sig");
                let alt = if last == 'A' { 'B' } else { 'A' };
                format!("{message}.{}{alt}", &signature[..signature.len() - 1])
            }
            Some(other) => {
                let n: usize = other
                    .strip_prefix("truncate:")
                    .and_then(|n| n.parse().ok())
                    .expect("signature recipe");
                format!("{message}.{}", &signature[..n])
            }
        };
        if let Some(swap) = recipe.get("swap_claims") {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(self.claims(swap).to_string());
            token = parts.join(".");
        }
        if let Some(suffix) = recipe["suffix"].as_str() {
            token.push_str(suffix);
        }
        token
    }
}
