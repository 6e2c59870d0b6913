//! A panic in the service ends the process before anything unwinds (`uid_gate::abort_on_panic`,
//! installed by main): a check that panicked half-way must not leave a server running on state
//! it half changed. faults.rs shows that Envoy then fails closed while the process is gone.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;

const CHILD: &str = "UIDGATE_TEST_PANIC_CHILD";
const SIGABRT: i32 = 6;

#[test]
fn a_panic_on_any_thread_aborts_the_service_process() {
    if std::env::var_os(CHILD).is_some() {
        // The child: the hook as main installs it, then a panic on a worker thread (as in a
        // tokio worker), which without the hook would only end that thread.
        uid_gate::abort_on_panic();
        let _ = std::thread::spawn(|| panic!("a check went wrong")).join();
        std::process::exit(0);
    }
    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "panics::a_panic_on_any_thread_aborts_the_service_process",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    assert_eq!(
        status.status.signal(),
        Some(SIGABRT),
        "the child was not aborted: {:?}\n{}",
        status.status,
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stderr).contains("a check went wrong"));
}

#[test]
fn main_installs_the_abort_hook_first() {
    let main =
        std::fs::read_to_string(crate::helpers::repo_root().join("src/main.rs")).expect("main.rs");
    let body = main
        .split("fn main()")
        .nth(1)
        .and_then(|rest| rest.split_once('{'))
        .map(|(_, body)| body)
        .expect("fn main");
    let first = body.lines().map(str::trim).find(|l| !l.is_empty());
    assert_eq!(first, Some("uid_gate::abort_on_panic();"), "{body}");
}
