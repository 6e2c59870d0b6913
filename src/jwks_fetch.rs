//! Fetching a JWKS URL over http(s): the network half of JWKS support. The keys themselves
//! are parsed and used by the core ([`uid_gate_core::jwks`]).

use std::sync::Arc;

use tokio_rustls::rustls;
use uid_gate_core::config::JwksUrl;

/// Why a JWKS could not be fetched (or the TLS settings for it built).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("JWKS URL must be http(s)://host[:port]/path")]
    BadUrl,
    #[error("CA file: {0}")]
    Ca(String),
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
    #[error("{0}")]
    Keys(#[from] uid_gate_core::jwks::JwksError),
}

/// TLS settings for https JWKS URLs: Mozilla's roots (webpki-roots) plus, optionally, the
/// certificates of a private CA (PEM).
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, FetchError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| FetchError::Ca("not a PEM certificate".into()))?;
            roots.add(cert).map_err(|e| FetchError::Ca(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(FetchError::Ca("no certificate in the file".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Ca(e.to_string()))?
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
) -> Result<Vec<u8>, FetchError> {
    // The core's one parse of the URL (the configuration already refused a malformed one).
    let JwksUrl {
        tls: https,
        host,
        port,
        authority,
        path,
    } = JwksUrl::parse(url).map_err(|_| FetchError::BadUrl)?;
    let tls = tls.clone();
    let fetch = async move {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| FetchError::Fetch(e.kind().to_string()))?;
        if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| FetchError::BadUrl)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| FetchError::Fetch(e.to_string()))?;
            get(stream, &authority, &path).await
        } else {
            get(tcp, &authority, &path).await
        }
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| FetchError::Fetch("timed out".into()))?
}

/// GET `path` with `Host: authority` (the URL's `host[:port]`, as RFC 9110 §7.2 wants).
async fn get<S>(stream: S, authority: &str, path: &str) -> Result<Vec<u8>, FetchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt as _;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| FetchError::Fetch(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|_| FetchError::BadUrl)?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| FetchError::Fetch(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(FetchError::Fetch(format!(
            "HTTP {}",
            resp.status().as_u16()
        )));
    }
    let body = http_body_util::Limited::new(resp.into_body(), uid_gate_core::refresh::MAX_BYTES)
        .collect()
        .await
        .map_err(|_| FetchError::Fetch("body unreadable or over 1 MiB".into()))?;
    Ok(body.to_bytes().to_vec())
}
