//! The one place that decides where the crate's synchronization primitives
//! come from.
//!
//! Under the crate's own `skipstore_loom` cfg every type here is loom's, so a
//! loom model sees every atomic the store's protocol relies on. Everywhere
//! else they are std's. The rest of the crate imports from this module only;
//! `clippy.toml` disallows the std paths to keep it that way.
//!
//! The cfg is `skipstore_loom`, never plain `loom`: a plain `--cfg loom` would
//! also flip tokio and other dependencies into their own loom modes.

#![allow(clippy::disallowed_types)]

#[cfg(not(skipstore_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering, fence},
};

#[cfg(skipstore_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence},
};
