//! A gRPC client on the wire: one unary call over HTTP/2 (cleartext, prior knowledge), an
//! empty message in gRPC's length-prefixed framing, and the status read where a gRPC client
//! reads it: the response headers of a trailers-only answer, else the trailers.

use super::*;

/// What a gRPC client received for one call.
#[derive(Debug, Clone)]
pub struct GrpcReply {
    /// The HTTP status (200 for every gRPC answer).
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The response body (an upstream that is not a gRPC server answers with its own).
    pub body: String,
    /// `grpc-status`, from the headers or the trailers; `None` when neither has it.
    pub grpc_status: Option<i32>,
    /// `grpc-message`, percent-decoded.
    pub grpc_message: Option<String>,
}

impl GrpcReply {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Calls `path` with `headers` (which carry the content type: `application/grpc`, or a
/// gRPC-Web type for a gRPC-Web client) and an empty message.
pub async fn grpc_call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<GrpcReply, String> {
    let call = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut client, conn) = h2::client::handshake(tcp)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://test.local{path}"))
            .header("te", "trailers");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(()).map_err(|e| e.to_string())?;
        let (response, mut send) = client.send_request(req, false).map_err(|e| e.to_string())?;
        // An empty message: not compressed, length 0.
        send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
            .map_err(|e| e.to_string())?;
        let response = response.await.map_err(|e| e.to_string())?;
        let (parts, mut body) = response.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|e| e.to_string())?;
        let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), text(v)))
            .collect();
        // A trailers-only answer has its status among the headers; otherwise in the trailers.
        let status_of = |name: &str| {
            parts
                .headers
                .get(name)
                .or_else(|| trailers.as_ref().and_then(|t| t.get(name)))
                .map(text)
        };
        Ok(GrpcReply {
            status: parts.status.as_u16(),
            headers,
            body: String::from_utf8_lossy(&data).into_owned(),
            grpc_status: status_of("grpc-status").and_then(|s| s.parse().ok()),
            grpc_message: status_of("grpc-message").map(|m| percent_decode(&m)),
        })
    };
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .map_err(|_| "gRPC call timed out".to_owned())?
}

/// gRPC's percent-decoding of `grpc-message`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
