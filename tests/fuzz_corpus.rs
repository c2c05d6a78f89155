//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own bodies, so a plain `cargo test` re-checks every input
//! the fuzzers kept, findings included, without cargo-fuzz or nightly.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use std::path::PathBuf;

/// Runs `body` on every file of `fuzz/corpus/<target>/`; fails naming every
/// input that panicked.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| body(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs failed: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn differential_corpus_replays() {
    replay("differential", bodies::differential);
}

#[test]
fn wheel_corpus_replays() {
    replay("wheel", bodies::wheel);
}

/// The bodies also accept inputs no fuzzer kept: empty, tiny, and a few
/// arbitrary byte patterns.
#[test]
fn bodies_accept_degenerate_inputs() {
    let patterns: [&[u8]; 4] = [&[], &[0], &[0xff; 64], &[0x5a; 4096]];
    for data in patterns {
        bodies::differential(data);
        bodies::wheel(data);
    }
}
