//! The black-box harness: kycd-testkit's `server` (spawns the real `kycd` binary and talks
//! to it over HTTP and the CLI) and its synthetic images, plus what only this suite uses.

pub use kycd_testkit::images::*;
pub use kycd_testkit::server::*;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

/// The binary under test, for the tests that run it without the harness.
pub const BIN: &str = env!("CARGO_BIN_EXE_kycd");

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Run one of the tests' Python scripts (`tests/it/<script>`) with `KYCD_TEST_PYTHON` and
/// `args`, within 5 minutes, and assert it succeeded and its last line ends with `OK`.
/// `package` names the PyPI package it needs, for the failure message.
pub async fn run_python_script(server: &Server, script: &str, package: &str, args: &[&std::ffi::OsStr]) {
    let python = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set: run scripts/test, or: python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install {package} && export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python"
        )
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(script);
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new(&python).arg(&path).args(args).kill_on_drop(true).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} did not finish within 5 minutes"))
    .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{script} failed (is {package} installed in {python}? scripts/test installs it)\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver logs:\n{}",
        server.logs()
    );
}
