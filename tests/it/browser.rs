//! The seeded stack in a real browser: tests/browser/test_page.py drives Debian's Chromium
//! (Playwright for Python, no downloaded browser) through the demo's Envoy, with the real
//! Better Auth server of examples/better-auth, in both signing modes, and the page on another
//! origin calling Envoy and the FastAPI app cross-origin. Chromium is installed on first use
//! (Debian's package); one that cannot be had is a failure, never a skip.

use std::process::Command;

use crate::helpers::*;

#[test]
fn the_page_works_in_chromium_with_both_signing_modes() {
    npm_ci("examples/better-auth");
    build_and_install_wheel();
    envoy_bin();
    let chromium = chromium_bin();
    let out = Command::new(venv().join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo_root().join("tests/browser"))
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        .env("CHROMIUM", &chromium)
        .current_dir(repo_root())
        .output()
        .expect("pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both signing modes, both cross-origin targets and the organizations run ran: nothing
    // skipped or deselected.
    assert!(
        stdout.contains("5 passed") && !stdout.contains("skipped"),
        "{stdout}"
    );
}
