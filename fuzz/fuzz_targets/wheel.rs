//! The timing wheel against a brute-force model; see `skipstore_fuzz::wheel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skipstore_fuzz::wheel(data));
