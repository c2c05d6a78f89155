//! The `Store<V>` contract, checked against `SkipStore` through the public
//! API only.
//!
//! * The shared suite (the `skipstore-contract` crate: entelix-memory 0.6.1's
//!   own tests of `InMemoryStore` and of the memory patterns, and the details
//!   DESIGN.md calls easy to get wrong) runs twice: on a `ManualClock`, and on
//!   the system clock in real time, one `#[test]` per case each.
//! * The same suite runs against entelix's `InMemoryStore`, the baseline,
//!   which must fail exactly the cases listed in `baseline_fails_exactly`.
//! * SkipStore-only checks stay here: the drop-in surface (`Clone`,
//!   `Default`, the builder, stats), row counts of expired but unswept rows,
//!   timing exact to the nanosecond on a manual clock, and the wheel's
//!   regressions.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::sync::Arc;
use std::time::Duration;

use entelix_core::{ExecutionContext, Result, TenantId};
use entelix_memory::{InMemoryStore, Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{ManualClock, SkipStore, SystemClock};
use skipstore_contract::{Harness, SortedListings, StoreValue};

// ── harnesses ───────────────────────────────────────────────────────────────

/// SkipStores on one manual clock: `advance` moves it at once.
struct ManualClockHarness {
    clock: ManualClock,
}

impl ManualClockHarness {
    fn new() -> Self {
        Self {
            clock: ManualClock::new(),
        }
    }
}

impl Harness for ManualClockHarness {
    async fn store<V: StoreValue>(&self) -> Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(
            SkipStore::<V>::builder().clock(self.clock.clone()).build(),
        ))
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// SkipStores on the system clock: `advance` sleeps.
struct RealTimeHarness;

impl Harness for RealTimeHarness {
    async fn store<V: StoreValue>(&self) -> Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(
            SkipStore::<V>::builder().clock(SystemClock::new()).build(),
        ))
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// entelix-memory's `InMemoryStore` (real time, no injectable clock),
/// its listings sorted: it lists in `HashMap` order, which changes from run
/// to run, so the order-checking cases would pass or fail by chance.
struct BaselineHarness;

impl Harness for BaselineHarness {
    async fn store<V: StoreValue>(&self) -> Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(SortedListings::new(Arc::new(
            InMemoryStore::<V>::new(),
        ))))
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

mod manual_clock {
    skipstore_contract::contract_tests!(super::ManualClockHarness::new());
}

mod real_time {
    skipstore_contract::contract_tests!(super::RealTimeHarness);
}

/// The baseline breaks the contract where skipstore's README says it does;
/// the run records exactly which cases, so a change on either side shows.
/// Behind the sorting adapter, what is left is its panic on a TTL whose
/// deadline overflows an `Instant` (`Instant::now() + Duration::MAX`); the
/// panic fails that case alone, and the run goes on.
#[tokio::test]
async fn baseline_fails_exactly() {
    let report = skipstore_contract::run_all(BaselineHarness).await;
    report.assert_failures(&["max_ttl_never_panics_and_stays_live"]);
}

// ── helpers for the SkipStore-specific tests ────────────────────────────────

fn ctx() -> ExecutionContext {
    ExecutionContext::new()
}

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn ns() -> Namespace {
    Namespace::new(t("acme")).with_scope("agent-a")
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A store on a manual clock, and the clock.
fn manual<V: Clone + Send + Sync + 'static>() -> (ManualClock, SkipStore<V>) {
    let clock = ManualClock::new();
    let store = SkipStore::builder().clock(clock.clone()).build();
    (clock, store)
}

const YEAR: Duration = Duration::from_secs(365 * 86_400);

#[path = "trait_contract/drop_in.rs"]
mod drop_in;
#[path = "trait_contract/exact_timing.rs"]
mod exact_timing;
#[path = "trait_contract/regressions.rs"]
mod regressions;
