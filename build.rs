//! Compiles the vendored ext_authz protos with the pure-Rust `protox` compiler,
//! so building needs neither network access nor a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Generated cross-package paths (google.rpc, xds, validate) resolve only through one include file.
        .include_file("mod.rs")
        .compile_fds(fds)?;
    Ok(())
}
