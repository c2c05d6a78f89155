//! Bodies of skipstore's fuzz targets, as plain functions of the input bytes.
//!
//! The cargo-fuzz targets in `fuzz_targets/` only call these. The main
//! crate's `tests/fuzz_corpus.rs` includes this file (`#[path]`) and replays
//! every input saved under `fuzz/corpus/<target>/` through the same
//! functions, so a plain `cargo test` re-checks every finding.
//!
//! Each body panics on the first disagreement with its model; the panic
//! message names the step and both results.

// This file and its modules also compile inside the main crate's test
// binary, under the main crate's lints: a fuzz body reports by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod differential;
mod store_model;
mod wheel_model;

pub use differential::run as differential;
pub use wheel_model::run as wheel;
