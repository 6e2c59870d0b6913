//! Public keys from a JWKS (Better Auth's `/api/auth/jwks`), for the JWT plugin's default
//! EdDSA tokens and ES256/RS256 ones.
//!
//! Each key is found by its `kid` and pinned to the one algorithm its type allows: OKP
//! Ed25519 → EdDSA, EC P-256 → ES256, RSA → RS256. Symmetric (`oct`) keys are never taken
//! from a JWKS: HS256 secrets come only from `BETTER_AUTH_SECRET*`, so no token can make
//! uid-gate use a public key as an HMAC secret (algorithm confusion).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio_rustls::rustls;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Why a JWKS was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS document ({0})")]
    Parse(String),
    #[error("no usable key (each needs a kid and an Ed25519, P-256 or RSA public key)")]
    NoKeys,
    #[error("JWKS URL must be http(s)://host[:port]/path")]
    BadUrl,
    #[error("CA file: {0}")]
    Ca(String),
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
}

/// The usable keys of a JWKS, by `kid`.
pub struct JwksKeys {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("JwksKeys").field("kids", &kids).finish()
    }
}

impl JwksKeys {
    /// Parses a JWKS. Keys without a `kid`, of other types, or whose `alg` disagrees with
    /// their type are skipped; a JWKS with no usable key is an error.
    pub fn from_json(json: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| JwksError::Parse(describe(&e)))?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = pinned_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (alg, key)))
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// The key for `kid` and the only algorithm it verifies.
    pub fn get(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.keys.get(kid)
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A set with no keys: every asymmetric token is refused until a fetch succeeds.
    pub fn empty() -> Self {
        Self {
            keys: HashMap::new(),
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// TLS settings for https JWKS URLs: Mozilla's roots (webpki-roots) plus, optionally, the
/// certificates of a private CA (PEM).
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, JwksError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| JwksError::Ca("not a PEM certificate".into()))?;
            roots.add(cert).map_err(|e| JwksError::Ca(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(JwksError::Ca("no certificate in the file".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JwksError::Ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Fetches a JWKS over http or https (certificates verified against `tls`), within
/// `timeout`, refusing bodies over 1 MiB.
pub async fn fetch(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, JwksError> {
    let uri: http::Uri = url.parse().map_err(|_| JwksError::BadUrl)?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(JwksError::BadUrl),
    };
    let host = uri.host().ok_or(JwksError::BadUrl)?.to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let tls = tls.clone();
    let fetch = async move {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| JwksError::Fetch(e.kind().to_string()))?;
        if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| JwksError::BadUrl)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| JwksError::Fetch(e.to_string()))?;
            get(stream, &host, &path).await
        } else {
            get(tcp, &host, &path).await
        }
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| JwksError::Fetch("timed out".into()))?
}

async fn get<S>(stream: S, host: &str, path: &str) -> Result<Vec<u8>, JwksError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt as _;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|_| JwksError::BadUrl)?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| JwksError::Fetch(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(JwksError::Fetch(format!("HTTP {}", resp.status().as_u16())));
    }
    let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|_| JwksError::Fetch("body unreadable or over 1 MiB".into()))?;
    Ok(body.to_bytes().to_vec())
}

/// The error category and position only: a JWKS is public, but errors stay short.
fn describe(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        _ => return None,
    };
    match &jwk.common.key_algorithm {
        Some(a) if *a != declared => None,
        _ => Some(alg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"45R2ooWAQjb6w8LQ5JH3jZYW7ZAfRtslhI1goF1brM8","kid":"ed1","alg":"EdDSA"}"#;

    #[test]
    fn keys_are_pinned_to_their_type() {
        let k = JwksKeys::from_json(format!(r#"{{"keys":[{ED}]}}"#).as_bytes()).expect("jwks");
        assert_eq!(k.len(), 1);
        assert_eq!(k.get("ed1").map(|(a, _)| *a), Some(Algorithm::EdDSA));
        assert!(k.get("other").is_none());
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_refused() {
        let no_kid =
            r#"{"kty":"OKP","crv":"Ed25519","x":"45R2ooWAQjb6w8LQ5JH3jZYW7ZAfRtslhI1goF1brM8"}"#;
        let oct = r#"{"kty":"oct","k":"c2VjcmV0","kid":"hs","alg":"HS256"}"#;
        let lying = ED
            .replace(r#""alg":"EdDSA""#, r#""alg":"RS256""#)
            .replace("ed1", "liar");
        let k =
            JwksKeys::from_json(format!(r#"{{"keys":[{no_kid},{oct},{lying},{ED}]}}"#).as_bytes())
                .expect("jwks");
        assert_eq!(k.len(), 1);
        assert!(k.get("hs").is_none() && k.get("liar").is_none());
        assert!(matches!(
            JwksKeys::from_json(format!(r#"{{"keys":[{oct}]}}"#).as_bytes()),
            Err(JwksError::NoKeys)
        ));
        assert!(matches!(
            JwksKeys::from_json(b"nope"),
            Err(JwksError::Parse(_))
        ));
    }
}
