//! The release's fast part (#25), as CI runs it: `release/build.sh --fast` builds the x86_64
//! manylinux2014 wheel through zig (auditwheel confirms its tag inside the script), and that
//! wheel, installed into a fresh venv with nothing from the repository on the path, passes the
//! Python conformance table (the API, FastAPI and uvicorn hosts).

use std::process::Command;

use serde_json::json;

use crate::conformance::Table;
use crate::helpers::*;

/// The pinned version of `package` in .ci/requirements-dev.txt.
fn pinned(package: &str) -> String {
    let list = std::fs::read_to_string(repo_root().join(".ci/requirements-dev.txt")).expect("list");
    list.lines()
        .find_map(|l| {
            let spec = l.split('#').next()?.trim();
            spec.starts_with(&format!("{package}=="))
                .then(|| spec.to_owned())
        })
        .unwrap_or_else(|| panic!("{package} is not pinned in .ci/requirements-dev.txt"))
}

/// The wheel this run tests: the x86_64 one, built here (`release/build.sh --fast`), or, with
/// `UIDGATE_RELEASE_ARCH=aarch64` (release/check.sh), the arm64 one of a full build.
fn wheel(arch: &str) -> std::path::PathBuf {
    if arch == "x86_64" {
        let out = Command::new("bash")
            .arg(repo_root().join("release/build.sh"))
            .arg("--fast")
            .output()
            .expect("release/build.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "release/build.sh --fast failed:\n{stderr}"
        );
        assert!(
            stderr.contains("auditwheel confirms manylinux_2_17_x86_64"),
            "{stderr}"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("manylinux_2_17_{arch}");
    std::fs::read_dir(repo_root().join("dist"))
        .expect("dist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("uid_gate-{version}-cp39-abi3-"))
                    && n.ends_with(".whl")
                    && n.contains(&tag)
            })
        })
        .unwrap_or_else(|| panic!("no {tag} wheel in dist/: run release/build.sh"))
}

/// An interpreter with `wheel` and the runner's tools installed, and the PYTHONPATH it needs:
/// a fresh venv on x86_64; on aarch64, Debian's arm64 CPython under qemu
/// (release/arm64-python.sh), with the arm64 wheels put in place by this machine's pip.
fn interpreter(
    arch: &str,
    wheel: &std::path::Path,
    dir: &std::path::Path,
) -> (std::path::PathBuf, Option<std::path::PathBuf>) {
    let tools = ["pytest", "fastapi", "uvicorn", "httpx"].map(pinned);
    if arch == "x86_64" {
        let python = fresh_venv(&dir.join("venv"));
        let ok = pip_install(&python)
            .arg(wheel)
            .args(&tools)
            .status()
            .expect("pip");
        assert!(
            ok.success(),
            "the wheel and the runner's tools did not install"
        );
        return (python, None);
    }
    let out = Command::new("bash")
        .arg(repo_root().join("release/arm64-python.sh"))
        .output()
        .expect("release/arm64-python.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let site = dir.join("site");
    let ok = pip_install(&venv().join("bin/python"))
        .arg("--target")
        .arg(&site)
        .args([
            "--platform",
            "manylinux2014_aarch64",
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
        ])
        .args(["--only-binary=:all:"])
        .arg(wheel)
        .args(&tools)
        .status()
        .expect("pip");
    assert!(
        ok.success(),
        "the arm64 wheel and the runner's tools did not install"
    );
    (python, Some(site))
}

#[test]
fn the_manylinux2014_wheel_installs_into_a_fresh_venv_and_passes_the_conformance_table() {
    let arch = std::env::var("UIDGATE_RELEASE_ARCH").unwrap_or_else(|_| "x86_64".into());
    let wheel = wheel(&arch);
    let dir = TempDir::new("release-venv");
    let (python, site) = interpreter(&arch, &wheel, dir.path());
    let with_site = |cmd: &mut Command| {
        if let Some(site) = &site {
            cmd.env("PYTHONPATH", site);
        }
    };

    // One host per run, its tokens minted just before: the table's time-window cases leave
    // 10 s, which three hosts in one slow run could use up.
    let table = Table::load();
    let file = dir.path().join("conformance.json");
    let runs = [
        ("python", "test_the_table_through_the_python_api"),
        ("fastapi", "test_the_table_through_a_fastapi_dependency"),
        (
            "asgi",
            "test_the_table_through_uvicorn_and_the_asgi_middleware",
        ),
    ];
    let mut summaries = Vec::new();
    // The compiled part, the same on every machine, is what an architecture can break: under
    // qemu the API host (every case through the arm64 extension) is the check. FastAPI and
    // uvicorn add only Python on top, and emulation is too slow for the table's 10 s
    // time-window case there (a token expired 20 s ago inside a 30 s leeway).
    let runs = if arch == "x86_64" {
        &runs[..]
    } else {
        &runs[..1]
    };
    for &(host, test) in runs {
        let doc = json!({ host: crate::python::materialize(&table, host) });
        std::fs::write(&file, doc.to_string()).expect("write");
        // From a directory outside the repository, so `uid_gate` can only be the installed wheel.
        let runner = repo_root().join("python/tests/test_conformance.py");
        let mut pytest = Command::new(&python);
        pytest
            .args([
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "--rootdir",
            ])
            .arg(dir.path())
            .arg(format!("{}::{test}", runner.display()))
            .args(["-c", "/dev/null"])
            .env("UIDGATE_CONFORMANCE", &file)
            .current_dir(dir.path());
        with_site(&mut pytest);
        let out = pytest.output().expect("pytest");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the released {arch} wheel failed the table through {host}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tag = format!("conformance [{host}]:");
        let line = stdout
            .lines()
            .find_map(|l| l.find(&tag).map(|i| l[i..].to_owned()))
            .unwrap_or_else(|| panic!("{host} did not run:\n{stdout}"));
        summaries.push(line);
    }
    let mut origin = Command::new(&python);
    origin
        .args([
            "-c",
            "import platform, uid_gate; print(platform.machine(), uid_gate.__file__)",
        ])
        .current_dir(dir.path());
    with_site(&mut origin);
    let origin = String::from_utf8_lossy(&origin.output().expect("python").stdout).into_owned();
    assert!(
        origin.starts_with(&format!("{arch} {}", dir.path().display())),
        "uid_gate did not come from the installed {arch} wheel: {origin}"
    );
    println!("{arch}: {}", summaries.join("; "));
}

/// Issue #36: the full release build names every Debian package it lacks before the first
/// build step (release/prereqs.sh, which build.sh runs first): the list matches the machine,
/// and a user who cannot install gets one line naming them all (as root they are installed).
#[test]
fn the_full_build_checks_its_debian_packages_before_building() {
    let script = repo_root().join("release/prereqs.sh");
    let list = |musl: &str| {
        let out = Command::new("bash")
            .arg(&script)
            .arg("--list")
            .env("UIDGATE_MUSL_LIBC", musl)
            .output()
            .expect("prereqs.sh");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let musl = "/usr/lib/x86_64-linux-musl/libc.so";
    let qemu = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join("qemu-aarch64-static").is_file())
    });
    let mut want = Vec::new();
    if !std::path::Path::new(musl).exists() {
        want.push("musl".to_owned());
    }
    if !qemu {
        want.push("qemu-user-static".to_owned());
    }
    assert_eq!(list(musl), want);
    let missing = list("/nonexistent/libc.so");
    assert_eq!(
        missing.first().map(String::as_str),
        Some("musl"),
        "{missing:?}"
    );
    // Not root: nothing is installed, and every missing package is named in one line.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"])
        .arg(&script)
        .env("UIDGATE_MUSL_LIBC", "/nonexistent/libc.so")
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("apt-get install {}", missing.join(" "))),
        "{stderr}"
    );
    // build.sh runs it before anything else in its full mode.
    let build = std::fs::read_to_string(repo_root().join("release/build.sh")).expect("build.sh");
    let check = build
        .find("bash release/prereqs.sh")
        .expect("build.sh runs prereqs.sh");
    assert!(
        check < build.find("venv=$(").expect("the venv step"),
        "prereqs.sh runs first"
    );
}
