//! The seeded stack in a real browser: tests/browser/test_page.py drives Debian's Chromium
//! (Playwright for Python, no downloaded browser) through the demo's Envoy, with the real
//! Better Auth server of examples/better-auth, in both signing modes. Chromium missing is a
//! failure, never a skip (CI installs it).

use std::process::Command;

use crate::helpers::*;

/// `npm ci` in examples/better-auth, once per test run, before any demo needs it (two demos
/// installing at once into one node_modules would race).
pub fn better_auth_example() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let dir = repo_root().join("examples/better-auth");
        if dir.join("node_modules/better-auth").is_dir() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js 20+ comes with the machine image)");
        assert!(status.success(), "npm ci in examples/better-auth failed");
    });
}

#[test]
fn the_page_works_in_chromium_with_both_signing_modes() {
    better_auth_example();
    crate::python::build_and_install_wheel();
    envoy_bin();
    let out = Command::new(venv().join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo_root().join("tests/browser"))
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        .current_dir(repo_root())
        .output()
        .expect("pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both modes ran: nothing skipped or deselected.
    assert!(
        stdout.contains("2 passed") && !stdout.contains("skipped"),
        "{stdout}"
    );
}
