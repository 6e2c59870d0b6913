use super::*;

fn settings(vars: &[(&str, &str)]) -> Settings {
    Settings::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .expect("settings")
}

fn opts(inline: bool) -> Options {
    Options {
        inline,
        module: "/opt/uid-gate/libuid_gate_envoy.so".into(),
        listen: HostPort::parse("--listen", "127.0.0.1:10000").expect("listen"),
        upstream: HostPort::parse("--upstream", "app:8081").expect("upstream"),
        authz: HostPort::parse("--authz", "127.0.0.1:9191").expect("authz"),
        admin: None,
        grpc_client: GrpcClient::Envoy,
        jwks_ca_pem: None,
        cors_origins: Vec::new(),
        grpc_web: false,
        probe: None,
    }
}

#[test]
fn host_port_parses_names_ips_and_bracketed_v6() {
    let hp = |s| HostPort::parse("--x", s);
    assert_eq!(hp("app:8081").expect("name").host, "app");
    assert_eq!(hp("[::1]:80").expect("v6").host, "::1");
    assert!(hp("app").is_err());
    assert!(hp("app:http").is_err());
    assert!(hp(":80").is_err());
    assert!(hp("a b:80").is_err());
}

#[test]
fn the_bootstrap_is_hardened_like_the_reference_config() {
    let s = settings(&[("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef")]);
    for inline in [true, false] {
        let yaml = bootstrap(&s, &opts(inline)).expect("bootstrap");
        for (path, value) in HARDENING {
            let key = path.rsplit('.').next().unwrap_or(path);
            let quoted = format!("{key}: \"{value}\"");
            let bare = format!("{key}: {value}");
            assert!(
                yaml.contains(&quoted) || yaml.contains(&bare),
                "{key} missing:\n{yaml}"
            );
        }
        assert!(yaml.contains("type: \"STRICT_DNS\""), "{yaml}");
        assert_eq!(yaml.contains("envoy.filters.http.dynamic_modules"), inline);
        assert_eq!(yaml.contains("envoy.filters.http.ext_authz"), !inline);
        assert_eq!(yaml.contains("It holds no secret"), inline);
        assert!(!yaml.contains("0123456789abcdef"), "a secret in:\n{yaml}");
    }
}

#[test]
fn a_listener_needs_an_ip_address() {
    let s = settings(&[("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef")]);
    let mut o = opts(true);
    o.listen = HostPort::parse("--listen", "localhost:10000").expect("parse");
    assert!(matches!(
        bootstrap(&s, &o),
        Err(EnvoyConfigError::ListenHost(_))
    ));
}

#[test]
fn a_jwks_url_reaches_the_module_with_a_tls_cluster() {
    let s = settings(&[("UIDGATE_JWKS_URL", "https://auth.example.com/api/auth/jwks")]);
    let yaml = bootstrap(&s, &opts(true)).expect("bootstrap");
    assert!(
        yaml.contains("https://auth.example.com/api/auth/jwks"),
        "{yaml}"
    );
    assert!(yaml.contains("sni: \"auth.example.com\""), "{yaml}");
    assert!(yaml.contains("port_value: 443"), "{yaml}");
    assert!(
        !yaml.contains("local_jwks"),
        "no secret, no local keys:\n{yaml}"
    );
    let (t, sni) = jwks_target("http://[::1]:8080/jwks").expect("v6");
    assert_eq!((t.host.as_str(), t.port, sni), ("::1", 8080, None));
}

#[test]
fn cors_needs_the_virtual_host_and_comes_first() {
    let s = settings(&[("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef")]);
    let mut o = opts(false);
    o.cors_origins = vec!["https://app.example.com".into()];
    o.grpc_web = true;
    let yaml = bootstrap(&s, &o).expect("bootstrap");
    // CORS, then gRPC-Web, then the gate: a preflight never meets the gate, and every deny
    // passes back through the CORS filter.
    let at = |name: &str| {
        yaml.find(name)
            .unwrap_or_else(|| panic!("{name} in {yaml}"))
    };
    assert!(at("name: \"envoy.filters.http.cors\"") < at("name: \"envoy.filters.http.grpc_web\""));
    assert!(
        at("name: \"envoy.filters.http.grpc_web\"") < at("name: \"envoy.filters.http.ext_authz\"")
    );
    assert!(
        yaml.contains("exact: \"https://app.example.com\""),
        "{yaml}"
    );
    assert!(yaml.contains("allow_credentials: false"), "{yaml}");
    let e = filters(&s, &o)
        .expect_err("CORS without a virtual host")
        .to_string();
    assert!(e.contains("virtual host"), "{e}");
    o.cors_origins.clear();
    assert!(filters(&s, &o).expect("filters").contains("grpc_web"));
}
