//! Fails when a checked-in generated file (docs/protocol.md, ...) no longer
//! matches what the WIT contract in wit/ generates.

use rapidbyte_bindgen::{check_all, drift_message, repo_root};

#[test]
fn generated_files_match_wit() {
    let drifted = match check_all(&repo_root()) {
        Ok(drifted) => drifted,
        Err(err) => panic!("generating from wit/ failed: {err}"),
    };
    assert!(drifted.is_empty(), "{}", drift_message(&drifted));
}
