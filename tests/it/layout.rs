//! The structure issue #10 promises, held by tests: a core crate with no server dependencies,
//! no giant source files, and a thin `main.rs`.

use std::path::Path;
use std::process::Command;

use crate::helpers::repo_root;

#[test]
fn the_core_depends_on_no_runtime_or_transport() {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "uid-gate-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("jsonwebtoken"), "not the core's tree: {tree}");
    for banned in [
        "tokio",
        "tonic",
        "hyper",
        "h2",
        "prost",
        "tracing-subscriber",
    ] {
        let hit = tree
            .lines()
            .find(|l| l.split_whitespace().next() == Some(banned));
        assert_eq!(hit, None, "uid-gate-core depends on {banned}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    source_files(dir, &["rs"], out);
}

/// Files under `dir` with one of `extensions`, leaving out installed packages.
fn source_files(dir: &Path, extensions: &[&str], out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "node_modules" && name != "__pycache__" {
                source_files(&path, extensions, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
        {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines_and_main_is_thin() {
    let root = repo_root();
    let mut files = Vec::new();
    // The product, its tests and the Python package alike.
    for dir in [
        "src", "crates", "tests", "python", "examples", "bench", "benches", "k8s",
    ] {
        source_files(&root.join(dir), &["rs", "py"], &mut files);
    }
    assert!(files.len() > 60, "found only {files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("tests/it/helpers/mod.rs"))
            && files
                .iter()
                .any(|f| f.ends_with("python/uid_gate/__init__.py")),
        "the walk missed the tests or the Python package"
    );
    for f in &files {
        let lines = std::fs::read_to_string(f).expect("read").lines().count();
        assert!(lines <= 500, "{} has {lines} lines", f.display());
    }
    let main = std::fs::read_to_string(root.join("src/main.rs")).expect("main.rs");
    assert!(
        main.lines().count() < 60,
        "main.rs has {} lines",
        main.lines().count()
    );
}

#[test]
fn unsafe_code_lives_only_in_the_envoy_modules_ffi() {
    // Every crate but the Envoy module forbids nothing explicitly, so this test is the rule:
    // an `unsafe` block, fn, impl or extern anywhere else fails it.
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["src", "crates", "python/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let allowed = root.join("crates/uid-gate-envoy/src/ffi");
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(&allowed)) {
        let text = std::fs::read_to_string(f).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if [
                "unsafe {",
                "unsafe fn",
                "unsafe impl",
                "unsafe extern",
                "unsafe(",
            ]
            .iter()
            .any(|t| code.contains(t))
            {
                found.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside the FFI module:\n{}",
        found.join("\n")
    );
    let ffi = std::fs::read_to_string(allowed.join("mod.rs")).expect("ffi/mod.rs");
    assert!(
        ffi.contains("unsafe {"),
        "the check looks at the right file"
    );
}
