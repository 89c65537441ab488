//! Shared by the CLI tests: the binary under test, with the staged
//! connectors and a test home.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo target directory the binary was built into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_BIN_EXE_rapidbyte"))
                .ancestors()
                .nth(2)
                .unwrap()
                .to_path_buf()
        })
}

/// `rapidbyte <args>` in `dir`, finding the staged connectors.
pub fn rapidbyte(dir: &Path, args: &[&str]) -> Command {
    let target = target_dir();
    let connectors = target.join("rapidbyte-connectors");
    assert!(
        connectors.is_dir(),
        "{} missing: run scripts/build-connectors.sh first",
        connectors.display()
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapidbyte"));
    c.args(args)
        .current_dir(dir)
        .env("RAPIDBYTE_HOME", target.join("rapidbyte-test-home"))
        .env("RAPIDBYTE_CONNECTOR_PATH", connectors)
        .env_remove("RAPIDBYTE_LOG_FORMAT");
    c
}

/// `sh -euc <script>` in `dir`, in a new user and mount namespace (so the
/// script may mount file systems that only it sees), with the environment
/// of [`rapidbyte`] and the binary's path in `$RB`.
#[allow(dead_code)]
pub fn in_mount_namespace(dir: &Path, script: &str) -> std::process::Output {
    let template = rapidbyte(dir, &[]);
    let mut c = Command::new("unshare");
    c.args(["--user", "--map-root-user", "--mount", "sh", "-euc", script])
        .current_dir(dir)
        .env("RB", env!("CARGO_BIN_EXE_rapidbyte"))
        .env_remove("RAPIDBYTE_LOG_FORMAT");
    for (k, v) in template.get_envs().filter_map(|(k, v)| Some((k, v?))) {
        c.env(k, v);
    }
    c.output()
        .expect("unshare (util-linux) runs; user namespaces must be enabled")
}
