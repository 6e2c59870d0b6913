//! Scale-out behind plain Envoy (#22): the config `uid-gate envoy-config` generates for a
//! named uid-gate (a headless Service: one address per pod) spreads checks over every
//! instance the name resolves to, takes in an instance added under load, and loses no request
//! when one is removed and sent SIGTERM. Real processes: three, then four uid-gate instances
//! on 127.0.0.11-14 (one port), a real Envoy, and a small DNS server the test controls
//! (standing in for the cluster's DNS; Envoy's own c-ares resolver asks it).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;

const NAME: &str = "uid-gate.scale.test";

/// Answers A queries for `NAME` with the current addresses (TTL 1 s), anything else with no
/// answer. Just enough DNS for Envoy's resolver; a library server would be a heavy
/// dependency for one test.
async fn serve_dns(sock: tokio::net::UdpSocket, addrs: Arc<Mutex<Vec<Ipv4Addr>>>) {
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let q = &buf[..n];
        // The question: labels up to a zero byte, then type and class.
        let mut i = 12;
        let mut labels = Vec::new();
        while i < n && q[i] != 0 {
            let len = q[i] as usize;
            labels.push(
                String::from_utf8_lossy(q.get(i + 1..i + 1 + len).unwrap_or_default()).into_owned(),
            );
            i += 1 + len;
        }
        let end = i + 5;
        if n < 12 || end > n {
            continue;
        }
        let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
        let ours = labels.join(".").eq_ignore_ascii_case(NAME);
        let answers = if ours && qtype == 1 {
            addrs.lock().expect("addrs").clone()
        } else {
            Vec::new()
        };
        let mut r = q[..2].to_vec(); // the query's id
        r.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]); // a reply; NXDOMAIN if not ours
        r.extend_from_slice(&[0, 1]);
        r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        r.extend_from_slice(&q[12..end]);
        for a in answers {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
            r.extend_from_slice(&a.octets());
        }
        let _ = sock.send_to(&r, from).await;
    }
}

/// How many checks an instance has answered, from its /metrics.
async fn checks(admin: SocketAddr) -> u64 {
    let resp = http_request(admin, "GET", "/metrics", &[])
        .await
        .expect("metrics");
    resp.body
        .lines()
        .find_map(|l| {
            l.strip_prefix("uidgate_check_duration_seconds_count ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

struct Instance {
    proc: Proc,
    ip: Ipv4Addr,
    admin: SocketAddr,
}

async fn instance(ip: Ipv4Addr, port: u16) -> Instance {
    let listen = format!("{ip}:{port}");
    let (mut proc, _) = spawn_uid_gate(&env(&[
        ("UIDGATE_LISTEN_ADDR", &listen),
        ("UIDGATE_ADMIN_ADDR", &format!("{ip}:0")),
    ]))
    .await;
    let admin = proc
        .wait_for("the admin address", |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            v["message"]
                .as_str()?
                .starts_with("admin endpoint listening")
                .then(|| v["addr"].as_str()?.parse().ok())?
        })
        .await;
    Instance { proc, ip, admin }
}

/// Each instance's checks over `window` of load.
async fn shares(instances: &[&Instance], window: Duration) -> Vec<u64> {
    let mut before = Vec::new();
    for i in instances {
        before.push(checks(i.admin).await);
    }
    tokio::time::sleep(window).await;
    let mut out = Vec::new();
    for (i, b) in instances.iter().zip(before) {
        out.push(checks(i.admin).await - b);
    }
    out
}

fn assert_fair(shares: &[u64], what: &str) {
    let total: u64 = shares.iter().sum();
    let fair = total / shares.len() as u64;
    assert!(total >= 40, "{what}: too little load to judge ({shares:?})");
    for s in shares {
        assert!(
            *s * 2 >= fair,
            "{what}: an instance got less than half its share: {shares:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_spreads_checks_over_every_instance_takes_in_a_new_one_and_loses_none_on_removal() {
    let envoy_bin = tokio::task::spawn_blocking(envoy_bin);
    let port = std::net::TcpListener::bind("127.0.0.11:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let ips: Vec<Ipv4Addr> = (11..=14).map(|n| Ipv4Addr::new(127, 0, 0, n)).collect();
    let mut running = Vec::new();
    for ip in &ips[..3] {
        running.push(instance(*ip, port).await);
    }
    let addrs = Arc::new(Mutex::new(ips[..3].to_vec()));
    let dns = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("dns");
    let dns_addr = dns.local_addr().expect("dns addr");
    tokio::spawn(serve_dns(dns, addrs.clone()));
    let (_echo, echo) = spawn_echo().await;
    envoy_bin.await.expect("envoy install");

    // The generated config, as an operator would deploy it; the test only points Envoy's
    // resolver at its DNS server.
    let yaml = envoy_config_cli(
        &[("BETTER_AUTH_SECRET", SECRET)],
        &[
            "--authz",
            &format!("{NAME}:{port}"),
            "--upstream",
            &echo.to_string(),
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ],
    );
    let anchor = "    dns_lookup_family: \"V4_PREFERRED\"\n";
    assert_eq!(yaml.matches(anchor).count(), 1, "{yaml}");
    assert!(
        yaml.contains("respect_dns_ttl: true") && yaml.contains("previous_hosts"),
        "{yaml}"
    );
    let resolver = format!(
        "{anchor}    typed_dns_resolver_config:\n      name: envoy.network.dns_resolver.cares\n      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig\n        resolvers: [{{socket_address: {{address: 127.0.0.1, port_value: {}, protocol: UDP}}}}]\n        dns_resolver_options: {{no_default_search_domain: true}}\n",
        dns_addr.port()
    );
    let envoy = Envoy::start(&yaml.replace(anchor, &resolver)).await;

    // Load: four clients through Envoy, from here to the removal.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = spawn_load(envoy.listener, &stop, 4);

    // Three instances: each gets about a third.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let three: Vec<&Instance> = running.iter().collect();
    assert_fair(
        &shares(&three, Duration::from_secs(2)).await,
        "three instances",
    );

    // A fourth joins the name: within a bounded time it gets its share, with no restart.
    running.push(instance(ips[3], port).await);
    addrs.lock().expect("addrs").push(ips[3]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while checks(running[3].admin).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new instance never got a check"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let four: Vec<&Instance> = running.iter().collect();
    assert_fair(
        &shares(&four, Duration::from_secs(2)).await,
        "four instances",
    );

    // One leaves as a pod does: out of the records, the Deployment's preStop pause, then
    // SIGTERM. Envoy has re-resolved by then and drains its connection to it.
    let leaving = running.remove(1);
    addrs.lock().expect("addrs").retain(|a| *a != leaving.ip);
    tokio::time::sleep(Duration::from_secs(pre_stop_secs())).await;
    signal(&leaving, "-TERM");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let three: Vec<&Instance> = running.iter().collect();
    assert_fair(
        &shares(&three, Duration::from_secs(2)).await,
        "after the removal",
    );
    let statuses = collect(std::mem::take(&mut load), &stop).await;
    // Every request so far was allowed: none lost to the scale-out or the removal.
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "{statuses:?}"
    );

    // A crash: one instance dies while the records still name it. Envoy takes it out of the
    // rotation (outlier detection) and retries on another; whatever fails, fails closed.
    let load = spawn_load(envoy.listener, &stop, 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let crashed = running.remove(0);
    signal(&crashed, "-KILL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let two: Vec<&Instance> = running.iter().collect();
    assert_fair(
        &shares(&two, Duration::from_secs(2)).await,
        "after the crash",
    );
    let statuses = collect(load, &stop).await;
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) <= 4,
        "the crash cost more than one check per client: {statuses:?}"
    );
    drop((leaving, crashed));
}

/// The Deployment's preStop pause (k8s/base/deployment.yaml), which must outlast Envoy's DNS
/// refresh for the removal above to lose nothing.
fn pre_stop_secs() -> u64 {
    let text =
        std::fs::read_to_string(repo_root().join("k8s/base/deployment.yaml")).expect("deployment");
    let at = text.find("preStop:").expect("a preStop hook");
    text[at..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("seconds:")?.trim().parse().ok())
        .expect("preStop sleep seconds")
}

fn signal(instance: &Instance, sig: &str) {
    let pid = instance.proc.child.id().expect("pid");
    let kill = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
}

/// `clients` loops of allowed requests through Envoy, each on its own connection, until `stop`.
fn spawn_load(
    listener: SocketAddr,
    stop: &Arc<AtomicBool>,
    clients: usize,
) -> Vec<tokio::task::JoinHandle<BTreeMap<u16, u64>>> {
    stop.store(false, Ordering::Relaxed);
    (0..clients)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let auth = bearer("user_A");
                let mut statuses = BTreeMap::<u16, u64>::new();
                while !stop.load(Ordering::Relaxed) {
                    let status = http_request(
                        listener,
                        "GET",
                        "/api/user_A/tasks",
                        &[("authorization", &auth)],
                    )
                    .await
                    .map_or(0, |r| r.status);
                    *statuses.entry(status).or_default() += 1;
                }
                statuses
            })
        })
        .collect()
}

/// Stops the load and adds up its statuses.
async fn collect(
    load: Vec<tokio::task::JoinHandle<BTreeMap<u16, u64>>>,
    stop: &AtomicBool,
) -> BTreeMap<u16, u64> {
    stop.store(true, Ordering::Relaxed);
    let mut statuses = BTreeMap::<u16, u64>::new();
    for l in load {
        for (s, n) in l.await.expect("load") {
            *statuses.entry(s).or_default() += n;
        }
    }
    statuses
}
