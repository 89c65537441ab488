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
