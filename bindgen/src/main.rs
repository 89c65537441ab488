//! `cargo run -p rapidbyte-bindgen [-- --check]`
//!
//! Regenerates every file derived from `wit/` (see
//! [`rapidbyte_bindgen::GENERATORS`]), or with `--check` verifies that the
//! checked-in files are up to date and exits non-zero if they are not.

use std::process::ExitCode;

use rapidbyte_bindgen::{check_all, drift_message, repo_root, write_all, GENERATORS};

const USAGE: &str = "usage: rapidbyte-bindgen [--check]

Regenerates the files derived from wit/ (docs/protocol.md, ...).

options:
  --check   do not write; exit with status 1 if a checked-in file is out of date
  -h, --help  print this help";

fn main() -> ExitCode {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unexpected argument `{other}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let root = repo_root();
    if check {
        match check_all(&root) {
            Ok(drifted) if drifted.is_empty() => {
                println!("{} generated file(s) up to date", GENERATORS.len());
                ExitCode::SUCCESS
            }
            Ok(drifted) => {
                eprintln!("error: {}", drift_message(&drifted));
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        }
    } else {
        match write_all(&root) {
            Ok(changed) => {
                for output in GENERATORS.iter().map(|g| g.output) {
                    let state = if changed.contains(&output) {
                        "wrote"
                    } else {
                        "unchanged"
                    };
                    println!("{state} {output}");
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        }
    }
}
