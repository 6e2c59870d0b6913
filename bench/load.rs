//! `uid-gate-load`: a small gRPC load client for uid-gate alone, used by `bench/run.sh`.
//!
//! Modes (each prints one `key=value` line):
//!   encode  --addr A --out FILE   check that the benchmark request is allowed, then write it
//!                                 gRPC-framed for h2load (`-d FILE`), which generates the load
//!   open    --addr A --rate R --seconds S [--connections C]
//!                                 open-loop load at a fixed, evenly spaced arrival rate (µs pacing,
//!                                 unlike h2load's --rps, which fires every client on the same tick);
//!                                 latency counts from the scheduled send time (no coordinated omission)
//!   startup --bin PATH --runs N   spawn uid-gate, time until its health service says SERVING
//! The token is minted from BETTER_AUTH_SECRET for user `alice`; the request is a GET of
//! /api/alice/tasks with the headers Envoy typically sends.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tonic::transport::{Channel, Endpoint};
use uid_gate::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use uid_gate::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    mode: String,
    addr: String,
    bin: String,
    runs: usize,
    out: String,
    rate: u64,
    seconds: f64,
    connections: usize,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        mode: String::new(),
        addr: "127.0.0.1:9191".into(),
        bin: String::new(),
        runs: 20,
        out: "check-request.bin".into(),
        rate: 10_000,
        seconds: 5.0,
        connections: 4,
    };
    let mut it = std::env::args().skip(1);
    a.mode = it
        .next()
        .ok_or("usage: uid-gate-load encode|open|startup [options]")?;
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => a.addr = v,
            "--bin" => a.bin = v,
            "--runs" => a.runs = v.parse()?,
            "--out" => a.out = v,
            "--rate" => a.rate = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--connections" => a.connections = v.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(a)
}

fn request(token: &str) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    headers.insert("authorization".to_owned(), format!("Bearer {token}"));
    // Roughly what Envoy sends: pseudo-headers and the proxy's own headers ride along.
    for (k, v) in [
        (":authority", "app.example"),
        (":method", "GET"),
        (":path", "/api/alice/tasks?page=2"),
        (":scheme", "http"),
        ("accept", "*/*"),
        ("x-forwarded-proto", "http"),
    ] {
        headers.insert(k.to_owned(), v.to_owned());
    }
    headers.insert("user-agent".to_owned(), "uid-gate-load".to_owned());
    headers.insert(
        "x-request-id".to_owned(),
        "6f1c2c2e-3b3c-4a3e-9d43-4c1d2a9f0b1e".to_owned(),
    );
    let http = HttpRequest {
        method: "GET".into(),
        path: "/api/alice/tasks?page=2".into(),
        headers,
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            ..Default::default()
        }),
    }
}

fn token() -> Result<String, Error> {
    let secret = std::env::var("BETTER_AUTH_SECRET").map_err(|_| "set BETTER_AUTH_SECRET")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let req = uid_gate::mint::MintRequest {
        user_id: "alice".into(),
        claim: "uid".into(),
        ttl_secs: 3600,
        issuer: None,
        audience: None,
    };
    Ok(uid_gate::mint::mint(secret.as_bytes(), &req, now)?)
}

async fn channels(addr: &str, n: usize) -> Result<Vec<Channel>, Error> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // One HTTP/2 connection each, as Envoy keeps a few long-lived connections per worker.
        out.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(out)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Checks that the request is allowed, then writes it gRPC-framed (1-byte flag, 4-byte length,
/// protobuf) for h2load's `-d`.
async fn encode(a: &Args) -> Result<(), Error> {
    use prost::Message as _;
    let req = request(&token()?);
    let chan = channels(&a.addr, 1).await?.remove(0);
    let resp = AuthorizationClient::new(chan)
        .check(req.clone())
        .await?
        .into_inner();
    if resp.status.map(|s| s.code) != Some(0) {
        return Err("the benchmark request is not allowed; refusing to time a deny path".into());
    }
    let body = req.encode_to_vec();
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
    framed.extend_from_slice(&body);
    std::fs::write(&a.out, framed)?;
    println!("mode=encode bytes={}", body.len() + 5);
    Ok(())
}

/// One raw HTTP/2 connection: h2 directly, so the generator spends a few µs per call
/// (tonic's client adds a buffer task hop per call, which made the generator the bottleneck).
async fn h2_connection(addr: &str) -> Result<h2::client::SendRequest<bytes::Bytes>, Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (send, conn) = h2::client::handshake(tcp).await?;
    tokio::spawn(async move {
        conn.await.ok();
    });
    Ok(send.ready().await?)
}

/// Sends one pre-encoded Check call; true when the gRPC status is OK and the decision an allow.
async fn h2_check(
    mut send: h2::client::SendRequest<bytes::Bytes>,
    uri: http::Uri,
    body: bytes::Bytes,
) -> Result<bool, Error> {
    let req = http::Request::post(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    send = send.ready().await?;
    let (resp, mut stream) = send.send_request(req, false)?;
    stream.send_data(body, true)?;
    let mut resp = resp.await?.into_body();
    let mut len = 0;
    while let Some(chunk) = resp.data().await {
        let chunk = chunk?;
        len += chunk.len();
        resp.flow_control().release_capacity(chunk.len())?;
    }
    let trailers = resp.trailers().await?;
    let grpc_ok = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .is_some_and(|v| v == "0");
    // An allow carries a CheckResponse with an OkHttpResponse; any body at all means it was answered.
    Ok(grpc_ok && len > 5)
}

async fn open(a: &Args) -> Result<(), Error> {
    use prost::Message as _;
    let body = {
        let msg = request(&token()?).encode_to_vec();
        let mut framed = Vec::with_capacity(msg.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&u32::try_from(msg.len())?.to_be_bytes());
        framed.extend_from_slice(&msg);
        bytes::Bytes::from(framed)
    };
    let uri: http::Uri = format!(
        "http://{}/envoy.service.auth.v3.Authorization/Check",
        a.addr
    )
    .parse()?;
    let mut conns = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        conns.push(h2_connection(&a.addr).await?);
    }
    for i in 0..2000 {
        if !h2_check(conns[i % conns.len()].clone(), uri.clone(), body.clone()).await? {
            return Err("warm-up call was not allowed".into());
        }
    }
    let total = (a.rate as f64 * a.seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
    let start = Instant::now();
    // A plain thread paces the calls: it sleeps (high-resolution timers, ~50 µs slack) until
    // each scheduled instant, so the runtime thread keeps the CPU for the calls themselves.
    // Tokio's timers tick in milliseconds and would send bursts instead.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let scheduled = start + interval.mul_f64(i as f64);
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            if tx.send(scheduled).is_err() {
                break;
            }
        }
    });
    let mut handles = Vec::with_capacity(total);
    let mut i = 0usize;
    while let Some(scheduled) = rx.recv().await {
        let (send, uri, body) = (conns[i % conns.len()].clone(), uri.clone(), body.clone());
        i += 1;
        handles.push(tokio::spawn(async move {
            let ok = h2_check(send, uri, body).await.unwrap_or(false);
            (ok, scheduled.elapsed().as_micros() as u32)
        }));
    }
    pacer.join().map_err(|_| "pacer thread panicked")?;
    let (mut lat, mut errors) = (Vec::with_capacity(total), 0usize);
    for h in handles {
        let (ok, us) = h.await?;
        if ok {
            lat.push(us);
        } else {
            errors += 1;
        }
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    println!(
        "mode=open target_rate={} rate={:.0} calls={} errors={errors} p50_us={} p90_us={} p99_us={} p999_us={} max_us={}",
        a.rate,
        lat.len() as f64 / elapsed.as_secs_f64(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or(0),
    );
    Ok(())
}

async fn startup(a: &Args) -> Result<(), Error> {
    let mut times = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let start = Instant::now();
        let mut child = tokio::process::Command::new(&a.bin)
            .env("UIDGATE_LISTEN_ADDR", &a.addr)
            .env("UIDGATE_ADMIN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        loop {
            if let Ok(s) =
                uid_gate::health::health_status(&a.addr, "", Duration::from_millis(200)).await
                && s == "SERVING"
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err("uid-gate did not become SERVING within 10 s".into());
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        times.push(start.elapsed().as_micros() as u32);
        child.kill().await?;
        child.wait().await?;
    }
    times.sort_unstable();
    println!(
        "mode=startup runs={} p50_ms={:.1} max_ms={:.1}",
        times.len(),
        percentile(&times, 0.5) as f64 / 1000.0,
        times.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let a = parse_args()?;
    // One worker: the client gets its own core (bench/run.sh pins it) and measures, not competes.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        match a.mode.as_str() {
            "encode" => encode(&a).await,
            "open" => open(&a).await,
            "startup" => startup(&a).await,
            other => Err(format!("unknown mode {other}").into()),
        }
    })
}
