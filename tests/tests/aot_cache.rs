//! The AOT cache: the second load of a component deserializes the compiled
//! artifact instead of compiling, and a damaged entry is recompiled.

use rapidbyte_host::runtime::Runtime;
use rapidbyte_tests::connectors_dir;

#[test]
fn second_load_comes_from_the_cache_and_is_faster() {
    let home = tempfile::tempdir().unwrap();
    let wasm = connectors_dir().join("dest-file/dest_file.wasm");
    let cold = Runtime::new(home.path()).unwrap().load(&wasm).unwrap();
    assert!(!cold.from_cache);
    let warm = Runtime::new(home.path()).unwrap().load(&wasm).unwrap();
    assert!(warm.from_cache);
    assert_eq!(cold.sha256, warm.sha256);
    assert!(
        warm.load_time * 5 < cold.load_time,
        "cache {:?} vs compile {:?}",
        warm.load_time,
        cold.load_time
    );
    let entries: Vec<_> = std::fs::read_dir(home.path().join("cache/aot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with(&cold.sha256) && entries[0].ends_with(".cwasm"));

    // Damage the artifact (replacing the file, as the cache itself does:
    // loaded components map it, so it is never rewritten in place): the
    // next load recompiles and heals the cache.
    drop((cold, warm));
    let artifact = home.path().join("cache/aot").join(&entries[0]);
    let damaged = home.path().join("damaged");
    std::fs::write(&damaged, b"garbage").unwrap();
    std::fs::rename(&damaged, &artifact).unwrap();
    let healed = Runtime::new(home.path()).unwrap().load(&wasm).unwrap();
    assert!(!healed.from_cache);
    assert!(
        Runtime::new(home.path())
            .unwrap()
            .load(&wasm)
            .unwrap()
            .from_cache
    );
}

#[test]
fn a_file_that_is_not_a_component_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let bogus = home.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm not really").unwrap();
    let err = Runtime::new(home.path())
        .unwrap()
        .load(&bogus)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("bogus.wasm") && err.contains("not a valid WebAssembly component"),
        "{err}"
    );
}
