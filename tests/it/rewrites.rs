//! A proxy that rewrites the path between uid-gate and the app (docs/security.md, "Paths
//! behind a rewrite"): through a real Envoy (`prefix_rewrite`) and a real nginx (`proxy_pass`
//! with a URI), alice's token on `/app/api/bob/tasks` must never reach bob's data. By default
//! no rule covers `/app/...` (403); with templates written for the client's path she gets her
//! own tasks and 403 on bob's. The opt-out shows the hole the default closes.

use std::net::SocketAddr;

use crate::helpers::{
    Envoy, HttpReply, TestServer, bearer, envoy_bin, http_request, render_envoy_config, spawn_echo,
    start_nginx_edited,
};

/// `envoy/envoy.yaml` with one more route: `/app/...` to the app with the prefix stripped.
fn envoy_with_rewrite(uid_gate: u16, app: u16) -> String {
    let yaml = render_envoy_config(uid_gate, app);
    let anchor = "              # Everything else is checked";
    assert_eq!(
        yaml.matches(anchor).count(),
        1,
        "envoy/envoy.yaml changed shape"
    );
    yaml.replace(
        anchor,
        &format!(
            "              - match: {{ prefix: \"/app/\" }}\n                route: {{ cluster: app, prefix_rewrite: \"/\" }}\n{anchor}"
        ),
    )
}

/// `examples/nginx/nginx.conf` with one more location: `/app/` to the app with the prefix
/// stripped (`proxy_pass` with a URI), checked like every other location.
fn nginx_with_rewrite(conf: &str) -> String {
    let anchor = "        location / {";
    assert_eq!(
        conf.matches(anchor).count(),
        1,
        "examples/nginx/nginx.conf changed shape"
    );
    conf.replace(
        anchor,
        &format!(
            "        location /app/ {{\n            auth_request /_uid_gate;\n            auth_request_set $uid_gate_user $upstream_http_x_user_id;\n            auth_request_set $uid_gate_challenge $upstream_http_www_authenticate;\n            proxy_set_header X-User-Id $uid_gate_user;\n            add_header WWW-Authenticate $uid_gate_extra_challenge always;\n            proxy_pass http://app/;\n        }}\n\n{anchor}"
        ),
    )
}

/// Whether a deny's challenge carries `description` (nginx sends its own body, so the
/// challenge is what both proxies pass on from uid-gate).
fn challenged(r: &HttpReply, description: &str) -> bool {
    r.header("www-authenticate")
        .is_some_and(|c| c.contains(&format!("error_description=\"{description}\"")))
}

/// What alice gets on her own and on bob's tasks behind the rewrite, and the paths and
/// identities the app saw (from the echo upstream's record).
struct Outcome {
    own: HttpReply,
    bobs: HttpReply,
    app_saw: Vec<(String, String)>,
}

async fn through(proxy: SocketAddr, echo: SocketAddr) -> Outcome {
    let alice = bearer("alice");
    let send = |path: &'static str| {
        let alice = alice.clone();
        async move {
            http_request(proxy, "GET", path, &[("authorization", &alice)])
                .await
                .expect("request through the proxy")
        }
    };
    let own = send("/app/api/alice/tasks").await;
    let bobs = send("/app/api/bob/tasks").await;
    let seen = http_request(echo, "GET", "/__echo/seen", &[])
        .await
        .expect("seen");
    let seen: Vec<serde_json::Value> = serde_json::from_str(&seen.body).expect("seen JSON");
    let app_saw = seen
        .iter()
        // The proxy's own start-up probe.
        .filter(|r| r["path"] != "/healthz")
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default().to_owned(),
                r["headers"]["x-user-id"].to_string(),
            )
        })
        .collect();
    Outcome { own, bobs, app_saw }
}

/// Runs `case` through Envoy and nginx with uid-gate configured by `vars`.
async fn both_proxies(vars: &[(&str, &str)], case: fn(&str, Outcome)) {
    let envoy_bin = tokio::task::spawn_blocking(envoy_bin);
    let mut http_vars = vars.to_vec();
    http_vars.push(("UIDGATE_HTTP_URI_HEADER", "x-original-uri"));
    let server = TestServer::start(&http_vars).await;
    envoy_bin.await.expect("envoy install");

    let (_echo, echo) = spawn_echo().await;
    let envoy = Envoy::start(&envoy_with_rewrite(server.addr.port(), echo.port())).await;
    case("envoy", through(envoy.listener, echo).await);

    let (_echo, echo) = spawn_echo().await;
    let (_nginx, _dir, nginx) = start_nginx_edited(server.http, echo, nginx_with_rewrite).await;
    case("nginx", through(nginx, echo).await);
}

#[tokio::test]
async fn by_default_a_rewritten_prefix_is_covered_by_no_rule_and_never_reaches_the_app() {
    both_proxies(&[], |proxy, o| {
        for r in [&o.own, &o.bobs] {
            assert_eq!(r.status, 403, "{proxy}: {r:?}");
            assert!(
                challenged(r, "no access rule covers this path"),
                "{proxy}: {r:?}"
            );
        }
        assert!(o.app_saw.is_empty(), "{proxy}: the app saw {:?}", o.app_saw);
    })
    .await;
}

#[tokio::test]
async fn templates_for_the_client_facing_path_judge_the_rewritten_route() {
    both_proxies(
        &[("UIDGATE_PATH_TEMPLATES", "/app/api/{user_id}")],
        |proxy, o| {
            assert_eq!(o.own.status, 200, "{proxy}: {:?}", o.own);
            assert_eq!(o.bobs.status, 403, "{proxy}: {:?}", o.bobs);
            assert!(
                challenged(&o.bobs, "token user does not own this path"),
                "{proxy}: {:?}",
                o.bobs
            );
            // The app routed the rewritten path, as alice, and never saw bob's.
            assert_eq!(
                o.app_saw,
                [("/api/alice/tasks".to_owned(), "[\"alice\"]".to_owned())],
                "{proxy}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn the_opt_out_reopens_the_hole_the_default_closes() {
    // UIDGATE_UNLISTED_PATHS=authenticated is uid-gate 0.1's behaviour: this is the attack.
    both_proxies(
        &[("UIDGATE_UNLISTED_PATHS", "authenticated")],
        |proxy, o| {
            assert_eq!(o.bobs.status, 200, "{proxy}: {:?}", o.bobs);
            assert!(
                o.app_saw
                    .contains(&("/api/bob/tasks".to_owned(), "[\"alice\"]".to_owned())),
                "{proxy}: {:?}",
                o.app_saw
            );
        },
    )
    .await;
}
