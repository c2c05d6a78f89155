//! The library half of `skipstore-compare`: the peers the command measures
//! skipstore against, as `Store<String>` adapters, so that `tests/` can hold
//! them to the same trait contract as `SkipStore`. The command itself
//! (workloads, runner, report) is the binary, `src/main.rs`.

pub mod peers;
