//! The committed protobuf code (src/pb/) is what prost and tonic generate from the vendored
//! protos (proto/), so the build needs no protobuf compiler and the two cannot drift.

use crate::helpers::*;

#[test]
fn the_committed_protobuf_code_is_what_the_protos_generate() {
    let dir = TempDir::new("pb");
    let fds = protox::compile(
        ["envoy/service/auth/v3/external_auth.proto"],
        [repo_root().join("proto")],
    )
    .expect("protox");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Generated cross-package paths (google.rpc, xds, validate) resolve only through one include file.
        .include_file("mod.rs")
        .out_dir(dir.path())
        .compile_fds(fds)
        .expect("generate");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut committed: Vec<String> = std::fs::read_dir(repo_root().join("src/pb"))
        .expect("src/pb")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    assert_eq!(
        files, committed,
        "src/pb/ holds other files than the protos generate"
    );
    for f in &files {
        let fresh = std::fs::read_to_string(dir.path().join(f)).expect("generated");
        let kept = std::fs::read_to_string(repo_root().join("src/pb").join(f)).expect("committed");
        assert!(
            fresh == kept,
            "src/pb/{f} differs from what proto/ generates: copy the generated files over"
        );
    }
}
