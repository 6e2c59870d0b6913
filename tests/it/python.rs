//! The Python package (python/): its wheel is built and installed into the project venv, then
//! pytest runs its tests, the conformance table through the Python API, a FastAPI dependency
//! and a real uvicorn server with the ASGI middleware, from a copy of the table materialized
//! here (tokens built just before).

use std::process::Command;

use serde_json::{Value, json};

use crate::conformance::{Planned, Table};
use crate::helpers::*;

pub(crate) fn materialize(table: &Table, host: &str) -> Value {
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for p in table.plan(host) {
        match p {
            Planned::Run(c) => cases.push(json!({
                "id": c.id,
                "config": c.config,
                "method": c.method,
                "path": c.path,
                "headers": c.headers,
                "expect": {
                    "status": c.expect.status,
                    "error": c.expect.error,
                    "reason": c.expect.reason,
                    "user": c.expect.user,
                },
                "host_difference": c.host_difference,
            })),
            Planned::Skip { id, why } => skipped.push(json!({"id": id, "why": why})),
        }
    }
    json!({"cases": cases, "skipped": skipped})
}

#[test]
fn the_python_package_passes_its_tests_and_the_conformance_table() {
    let venv = venv();
    build_and_install_wheel();
    let dir = TempDir::new("pytest");
    // Tokens from the real better-auth package (tests/interop/mint.mjs) and their secret.
    let mut ba = crate::interop::better_auth().clone();
    ba["secret"] = json!(SECRET);
    let ba_file = dir.path().join("better-auth.json");
    std::fs::write(&ba_file, ba.to_string()).expect("write");
    // The table's tokens are built last and run first: a "within leeway" token has about
    // 10 s to be sent. Its temp files (JWKS) live as long as `table`.
    let table = Table::load();
    let doc = json!({
        "python": materialize(&table, "python"),
        "fastapi": materialize(&table, "fastapi"),
        "asgi": materialize(&table, "asgi"),
    });
    let file = dir.path().join("conformance.json");
    std::fs::write(&file, doc.to_string()).expect("write");
    // Every test file, the table's first (pytest keeps the order of files it is given).
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(repo_root().join("python/tests"))
        .expect("python/tests")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test_") && n.ends_with(".py"))
        })
        .collect();
    files.sort_by_key(|p| (!p.ends_with("test_conformance.py"), p.clone()));
    assert!(
        files.len() > 3 && files[0].ends_with("test_conformance.py"),
        "{files:?}"
    );
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"])
        .args(&files)
        .env("UIDGATE_CONFORMANCE", &file)
        .env("UIDGATE_BETTER_AUTH", &ba_file)
        .current_dir(repo_root())
        .output()
        .expect("pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "pytest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for host in ["python", "fastapi", "asgi"] {
        // Each runner prints its summary (`N cases, M skipped (reasons), ...`).
        let tag = format!("conformance [{host}]:");
        let line = stdout
            .lines()
            .find_map(|l| l.find(&tag).map(|i| &l[i..]))
            .unwrap_or_else(|| panic!("{host} did not run"));
        crate::conformance::record_summary(line);
    }
    // pytest's closing line, e.g. "12 passed in 3.64s": nothing skipped, failed or errored.
    let summary = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("skipped") && !summary.contains("failed"),
        "pytest: {summary}"
    );
}

/// The README's command builds a wheel that installs into a fresh venv and works there.
#[test]
fn the_wheel_installs_into_a_fresh_venv() {
    let wheel = build_and_install_wheel();
    let dir = TempDir::new("fresh-venv");
    let python = fresh_venv(&dir.path().join("venv"));
    let ok = pip_install(&python)
        .arg("--no-index")
        .arg(&wheel)
        .status()
        .expect("pip");
    assert!(ok.success(), "the wheel did not install");
    let out = Command::new(&python)
        .args([
            "-c",
            "import uid_gate; g = uid_gate.Gate(secret='0123456789abcdef0123456789abcdef'); \
             d = g.check('/api/alice/x'); print(d.status, d.reason)",
        ])
        .output()
        .expect("python");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "401 missing_token"
    );
}

/// The code block after the line `label` in `page` (a fenced block of any language).
fn block_after(page: &str, label: &str) -> String {
    let rest = &page[page.find(label).unwrap_or_else(|| panic!("no {label:?}"))..];
    let open = rest.find("```").expect("a code block");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    body[..body.find("```").expect("closing fence")].to_owned()
}

/// docs/fastapi.md, "Testing your app", as a newcomer follows it: the documented install line
/// (the wheel with its `testing` extra) in a fresh venv, the page's two files, and the page's
/// command; every test passes and nothing warns (Starlette's test client once needed an HTTP
/// library the `fastapi` extra does not bring, then warned about the one it got).
#[test]
fn the_documented_testing_example_passes_in_a_fresh_venv() {
    let wheel = build_and_install_wheel();
    let page = std::fs::read_to_string(repo_root().join("docs/fastapi.md")).expect("docs");
    let section = &page[page.find("## Testing your app").expect("section")..];
    let install = block_after(section, "Install the `testing` extra");
    assert!(
        install
            .trim()
            .starts_with("pip install \"$(ls /path/to/uid-gate/target/wheels/")
            && install.trim().ends_with(".whl)[testing]\""),
        "the documented install line changed: {install}"
    );
    let dir = TempDir::new("testing-example");
    let python = fresh_venv(&dir.path().join("venv"));
    let ok = pip_install(&python)
        .arg(format!("{}[testing]", wheel.display()))
        .status()
        .expect("pip");
    assert!(ok.success(), "the documented install failed");
    std::fs::write(
        dir.path().join("myapp.py"),
        block_after(section, "`myapp.py`:"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("test_myapp.py"),
        block_after(section, "`test_myapp.py`:"),
    )
    .expect("write");
    let run = block_after(section, "Run them with a throwaway secret");
    assert_eq!(
        run.trim(),
        "BETTER_AUTH_SECRET=$(openssl rand -base64 32) pytest"
    );
    let out = Command::new("bash")
        .args(["-c", run.trim()])
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().join("venv/bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .current_dir(dir.path())
        .output()
        .expect("pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("2 passed") && !stdout.contains("warning"),
        "the documented example:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
