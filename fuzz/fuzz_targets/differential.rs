//! The store against a `BTreeMap` model; see `skipstore_fuzz::differential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skipstore_fuzz::differential(data));
