//! The `Store<V>` contract that `SkipStore` keeps, as a suite that runs
//! unchanged against any store.
//!
//! entelix-memory's trait leaves much unsaid ("order is unspecified"); the
//! contract checked here is the one `SkipStore` promises and the stores built
//! beside it (a Redis-backed store, the compare crate's peers) must meet:
//! `list` sorted, confined to its namespace, with a literal prefix;
//! `list_namespaces` exactly the namespaces holding a live row under the
//! prefix, sorted by rendered form, each once; TTL honoured on every read
//! (`Duration::ZERO` expired at once, sub-millisecond TTLs kept, `Duration::MAX`
//! never expiring and never panicking); `evict_expired` returning the number
//! of rows it removed; and the memory patterns (`BufferMemory`,
//! `SummaryMemory`, `EntityMemory`) working over `Arc<dyn Store<_>>`. The
//! cases are ported from entelix-memory 0.6.1's own tests and from
//! skipstore's.
//!
//! # Running the suite against a store
//!
//! Implement [`Harness`]: it makes a fresh, empty store for any value type
//! (each case takes its own, so stores that share a server give each one its
//! own key prefix or tenant space) and moves that store's time forward (a
//! manual clock advances at once; a store on real time sleeps). Then either
//! expand [`contract_tests!`] in an integration test, which gives one
//! `#[test]` per case, or call [`run_all`], which runs every case, catches
//! panics, and returns a [`Report`] whose failures a test can compare with an
//! exact expected set (to document a store that breaks the contract).
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use entelix_memory::{InMemoryStore, Store};
//! use skipstore_contract::{Harness, StoreValue};
//!
//! struct Baseline;
//!
//! impl Harness for Baseline {
//!     async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
//!         Ok(Arc::new(InMemoryStore::<V>::new()))
//!     }
//!     async fn advance(&self, by: Duration) {
//!         tokio::time::sleep(by).await; // real time
//!     }
//! }
//!
//! // In an integration test file: one #[test] per case.
//! skipstore_contract::contract_tests!(Baseline);
//! ```
//!
//! Cases are written so that a store on real time, on a loaded machine,
//! passes them without flakes: a row asserted to be live has a TTL of an hour
//! (or none), and a row asserted to have expired has a TTL of a few
//! milliseconds and is checked after [`Harness::advance`] has moved well past
//! it. Checks that need a clock stopped to the nanosecond belong beside the
//! store that has such a clock (skipstore keeps them in
//! `tests/trait_contract/`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use entelix_memory::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod cases;
mod runner;
mod sorted;
mod support;

pub use runner::{Case, CaseFuture, CaseResult, Failure, Outcome, Report, all_cases, run_all};
pub use sorted::SortedListings;

/// The bounds on a value type that every store under test accepts: what
/// `Store<V>` needs (`Clone + Send + Sync + 'static`) plus serde, so that
/// stores which encode values (Redis) can run the same cases.
///
/// Implemented for every type that meets the bounds.
pub trait StoreValue: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T> StoreValue for T where T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

/// How the suite reaches a store under test.
///
/// A harness makes stores and moves their time forward. Each case asks it for
/// the stores it needs (one, usually; one per value type in the memory
/// pattern cases) and calls [`advance`](Harness::advance) where the original
/// test advanced a manual clock.
///
/// # What an implementation must guarantee
///
/// * **Isolation.** Every call to [`store`](Harness::store) returns an empty
///   store that shares no rows with any store made before it, even one of the
///   same value type: a case may run while other cases use other stores of the
///   same harness (the tests that [`contract_tests!`] generates run in
///   parallel, each with its own harness value, possibly on one server). A
///   store on a shared server gets its own key prefix or namespace.
/// * **Time.** After `advance(d)` returns, every store the harness has made
///   has seen at least `d` pass. A manual clock advances by exactly `d`; a
///   real-time harness sleeps (for at least `d`). One harness value is used by
///   one case at a time ([`run_all`] runs cases one after another), so a shared
///   manual clock is not moved by another case.
/// * **No hidden work.** The harness does not sweep, evict or rewrite rows
///   behind the case's back beyond what the store itself does: cases assert
///   exact `evict_expired` counts.
///
/// The futures are `Send`: [`run_all`] runs each case in its own tokio task.
pub trait Harness: Send + Sync + 'static {
    /// A fresh, empty store for values of type `V`, isolated from every
    /// other store this harness has made.
    ///
    /// An error (a server that cannot be reached, say) fails the case that
    /// asked, with that error.
    fn store<V: StoreValue>(
        &self,
    ) -> impl Future<Output = entelix_core::Result<Arc<dyn Store<V>>>> + Send;

    /// Moves time forward by at least `by` for every store this harness has
    /// made: instantly on a manual clock, by sleeping on real time.
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;
}

/// Expands to one `#[test]` per contract case, each running the case against
/// a harness made by `$harness`.
///
/// `$harness` is evaluated once per test, inside an `async` block on that
/// test's own tokio runtime (current-thread, time and IO enabled), so it may
/// `.await` (to start a server connection, say) and may spawn tasks. Each
/// test is named after its case (see [`all_cases()`]), so expanding the macro
/// twice in one file needs two modules:
///
/// ```ignore
/// mod manual_clock {
///     skipstore_contract::contract_tests!(super::ManualHarness::new());
/// }
/// mod real_time {
///     skipstore_contract::contract_tests!(super::RealTimeHarness);
/// }
/// ```
///
/// A failing case fails its test with the case's own panic message (an
/// `assert_eq!` names both sides) or with the store's error.
#[macro_export]
macro_rules! contract_tests {
    ($harness:expr $(,)?) => {
        $crate::__with_cases! { __contract_test_fns!($harness) }
    };
}

/// Calls `$callback!(($($args)*) module::case, ...)` with every case of the
/// suite, the one list that [`contract_tests!`] and [`all_cases()`] both read.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
            basic::put_get_delete_round_trip,
            basic::put_then_get_round_trips,
            basic::tenants_are_isolated,
            basic::scope_segments_isolate_namespaces,
            basic::list_with_prefix_filters_correctly,
            basic::delete_is_idempotent,
            basic::delete_then_get_returns_none,
            basic::dyn_store_supports_every_method,
            basic::distinct_tenants_under_identical_scope_are_isolated,
            basic::colon_bearing_segments_are_isolated_by_escaping,
            patterns::buffer_memory_appends_and_returns_messages,
            patterns::buffer_memory_drops_oldest_when_over_capacity,
            patterns::buffer_memory_clear_resets_to_empty,
            patterns::buffer_memory_namespaces_are_isolated,
            patterns::summary_set_and_get_round_trip,
            patterns::summary_append_concatenates_with_blank_line,
            patterns::summary_append_to_empty_starts_fresh,
            patterns::summary_clear_removes_value,
            patterns::entity_set_and_get,
            patterns::entity_all_returns_full_map,
            patterns::entity_remove_drops_one,
            patterns::entity_remove_idempotent_when_absent,
            patterns::entity_clear_drops_everything,
            patterns::entity_set_preserves_created_at_on_update,
            patterns::entity_touch_refreshes_last_seen_without_changing_fact,
            patterns::entity_touch_returns_false_for_absent_entity,
            patterns::entity_prune_drops_records_past_ttl,
            patterns::entity_prune_returns_zero_when_namespace_is_empty,
            list::list_returns_sorted_keys,
            list::list_prefixes_are_literal,
            list::list_hides_expired_keys_and_unknown_namespaces_are_empty,
            list::a_child_namespace_never_shows_in_its_parents_list,
            list::keys_containing_colons_never_bleed,
            namespaces::list_namespaces_finds_subscopes_under_prefix,
            namespaces::list_namespaces_recovers_escaped_segments,
            namespaces::list_namespaces_is_sorted_by_rendered_form_and_deduplicated,
            namespaces::list_namespaces_lists_only_namespaces_with_a_live_entry,
            ttl::ttl_expires_on_get,
            ttl::zero_ttl_is_expired_immediately,
            ttl::zero_ttl_put_hides_the_previous_value,
            ttl::max_ttl_never_panics_and_stays_live,
            ttl::sub_millisecond_ttls_are_honoured,
            ttl::a_shorter_ttl_supersedes_a_longer_one,
            ttl::a_longer_ttl_supersedes_a_shorter_one,
            ttl::a_put_without_ttl_supersedes_an_earlier_ttl,
            ttl::a_put_over_an_expired_unswept_row_revives_it,
            eviction::evict_expired_returns_count_and_drops_rows,
            eviction::delete_then_reput,
            eviction::evict_expired_returns_exact_counts,
            eviction::mass_expiry_then_writes_loses_no_row,
        }
    };
}

/// One `#[test]` per case; see [`contract_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_test_fns {
    (($harness:expr) $($module:ident :: $case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $crate::__run_test(
                    async { $harness },
                    stringify!($case),
                    |h| ::std::boxed::Box::pin($crate::cases::$module::$case(h)),
                );
            }
        )*
    };
}

#[doc(hidden)]
pub use runner::run_test as __run_test;
