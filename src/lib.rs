//! # skipstore
//!
//! A lock-free, ordered, TTL-aware in-memory store that implements
//! [`entelix_memory::Store`], as a drop-in replacement for entelix's
//! mutex-based `InMemoryStore`:
//!
//! ```
//! use std::sync::Arc;
//! use entelix_memory::Store;
//! use skipstore::SkipStore;
//!
//! let store: Arc<dyn Store<String>> = Arc::new(SkipStore::new());
//! # let _ = store;
//! ```
//!
//! ## How it is built
//!
//! | concern | module |
//! |---|---|
//! | the engine: writes, reads and the protocol between the indexes | `engine` |
//! | range scans and pagination; expiry, eviction, subtree delete; listener notices and counters | `engine::{scan, expire, hooks}` |
//! | an entry | `entry` |
//! | the raw layer: every `unsafe` block (the slot, the write buffer, the hash index's point set, retirement) | `raw::{slot, pending, hashindex, retire, text}` |
//! | per-namespace ordered keys, namespace retirement | `namespace` |
//! | ordered skiplists and the hash index, behind one seam | `index` |
//! | the hierarchical timing wheel | [`wheel`] |
//! | handing timers to the wheel and advancing it | `expiry` |
//! | the optional background sweeper | `sweeper` |
//! | time sources | [`Clock`] |
//! | the async trait adapter and builder | [`SkipStore`], [`SkipStoreBuilder`] |
//! | the inherent API beyond the trait | [`SkipStore::get_versioned`], [`SkipStore::list_page`], ... (`api`) |
//! | a Redis-backed store for replicas that share memory (feature `redis`) | `redis` |
//!
//! Gets are lock-free and allocate nothing but the cloned value; `list` and
//! `list_namespaces` are range scans over skiplists ordered by rendered
//! namespace, then key; expiry is driven by a timing wheel, so sweeping costs
//! what expired, not the size of the store. See the README for the
//! guarantees and `BENCHMARKS.md` for measurements against the baseline.

#![warn(missing_docs)]
// Every `unsafe` block lives in `raw` (see its invariants).
#![deny(unsafe_code)]

// The loom build runs crossbeam-epoch in its own loom mode (its atomics and
// its collector are loom's); that mode needs crossbeam's cfg beside ours.
#[cfg(all(skipstore_loom, not(crossbeam_loom)))]
compile_error!(
    "the loom build needs both cfgs: RUSTFLAGS=\"--cfg skipstore_loom --cfg crossbeam_loom\""
);

mod api;
mod clock;
mod counter;
mod engine;
mod entry;
mod expiry;
mod index;
mod namespace;
// The one layer allowed `unsafe` code.
#[allow(unsafe_code)]
mod raw;
// The Redis store holds no lock-free protocol for loom to model: std's `Arc`
// and atomics are what it means, under loom too.
#[cfg(feature = "redis")]
#[allow(clippy::disallowed_types)]
pub mod redis;
mod render;
mod stats;
mod store;
#[cfg(not(skipstore_loom))]
mod sweeper;
pub(crate) mod sync;
pub mod wheel;

pub use api::{Conflict, EntryVersion, KeyPage, NamespacePage};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Removal, RemovalCause};
pub use stats::Stats;
pub use store::{SkipStore, SkipStoreBuilder};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
