//! The cases, one `pub async fn` each, grouped by concern.
//!
//! Every case has the shape `async fn name<H: Harness>(h: &H) -> CaseResult`:
//! it asks `h` for fresh stores, drives them through `Arc<dyn Store<V>>` only,
//! and panics (through `assert!`/`assert_eq!`) when the store breaks the
//! contract. [`crate::all_cases()`] lists them all; the lists in
//! `__with_cases!` (in `lib.rs`) must name every function here.

pub mod basic;
pub mod eviction;
pub mod list;
pub mod namespaces;
pub mod patterns;
pub mod ttl;
