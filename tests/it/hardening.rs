//! The Envoy hardening, stated once (`envoy_config::HARDENING`): every hand-written Envoy
//! configuration carries it as the generated block.

use crate::helpers::*;

/// Issue #32, item 4: the hardening is stated once (`envoy_config::HARDENING`). The generator
/// emits it; every hand-written Envoy configuration (the shipped `envoy/*.yaml`, the bench's,
/// the Istio gateway's patch) carries it as a block equal to `hardening_block`, one in each
/// connection manager, and states none of its fields elsewhere. A hardening change is one
/// edit: `UIDGATE_BLESS=1 cargo test --test it hardening` rewrites every block.
#[test]
fn every_hand_written_envoy_config_carries_the_generated_hardening_block() {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["envoy", "bench"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.push(root.join("k8s/istio/gateway-headers.yaml"));
    let bless = std::env::var_os("UIDGATE_BLESS").is_some();
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let (blessed, blocks, stray) = hardening_blocks(&text);
        let managers = text.matches("v3.HttpConnectionManager").count();
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        if blocks != managers {
            problems.push(format!(
                "{name}: {blocks} hardening block(s) for {managers} connection manager(s)"
            ));
        }
        for line in stray {
            problems.push(format!(
                "{name}: a hardening field outside the block: {line}"
            ));
        }
        if blessed != text {
            if bless {
                std::fs::write(path, &blessed).expect("write");
            } else {
                problems.push(format!(
                    "{name}: a hardening block differs from HARDENING (UIDGATE_BLESS=1 rewrites it)"
                ));
            }
        }
    }
    assert!(
        files.len() >= 11,
        "expected the shipped, bench and Istio configs"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `text` with each hardening block rewritten as `hardening_block` at its indentation, the
/// number of blocks, and the lines outside them that set a hardening field.
fn hardening_blocks(text: &str) -> (String, usize, Vec<String>) {
    use uid_gate::envoy_config::{HARDENING, HARDENING_BEGIN, HARDENING_END, hardening_block};
    let leaf_keys: Vec<String> = HARDENING
        .iter()
        .map(|(path, _)| format!("{}:", path.rsplit('.').next().unwrap_or(path)))
        .collect();
    let mut out = String::new();
    let mut blocks = 0;
    let mut stray = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        if line.trim() == HARDENING_BEGIN {
            let indent = line.len() - line.trim_start().len();
            // Everything up to the end marker is replaced; a block without one swallows the
            // rest of the file, which then differs.
            for inner in lines.by_ref() {
                if inner.trim() == HARDENING_END {
                    break;
                }
            }
            out.push_str(&hardening_block(indent));
            blocks += 1;
            continue;
        }
        let code = line.split('#').next().unwrap_or_default().trim_start();
        if leaf_keys.iter().any(|k| code.starts_with(k.as_str())) {
            stray.push(line.trim().to_owned());
        }
        out.push_str(line);
    }
    (out, blocks, stray)
}

#[test]
fn the_hardening_check_finds_a_changed_missing_or_restated_field() {
    use uid_gate::envoy_config::hardening_block;
    let block = hardening_block(4);
    let file = format!("a:\n  - x: v3.HttpConnectionManager\n{block}");
    let (same, blocks, stray) = hardening_blocks(&file);
    assert_eq!((same == file, blocks, stray.len()), (true, 1, 0));
    let changed = file.replace("REJECT_REQUEST", "KEEP_UNCHANGED");
    assert_ne!(hardening_blocks(&changed).0, changed);
    let restated = format!("{file}    merge_slashes: false\n");
    assert_eq!(hardening_blocks(&restated).2, ["merge_slashes: false"]);
    let lines: Vec<&str> = block.lines().collect();
    let truncated = format!("{}\n{}\n", lines[0], lines[1]);
    assert_ne!(hardening_blocks(&truncated).0, truncated);
}
