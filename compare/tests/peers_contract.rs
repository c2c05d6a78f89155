//! The trait contract (`skipstore-contract`) against each peer adapter, on
//! real time: the same cases `SkipStore` passes, so no peer is measured
//! doing less than skipstore does.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use entelix_memory::Store;
use skipstore_compare::peers::{DashMapStore, MokaStore, SccStore};
use skipstore_contract::{Harness, StoreValue};

/// Sleeps through `advance`: the peers read the system clock.
async fn sleep(by: Duration) {
    tokio::time::sleep(by).await;
}

struct Moka;

impl Harness for Moka {
    async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(MokaStore::<V>::new()))
    }

    async fn advance(&self, by: Duration) {
        sleep(by).await;
    }
}

struct DashMap;

impl Harness for DashMap {
    async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(DashMapStore::<V>::new()))
    }

    async fn advance(&self, by: Duration) {
        sleep(by).await;
    }
}

struct Scc;

impl Harness for Scc {
    async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
        Ok(Arc::new(SccStore::<V>::new()))
    }

    async fn advance(&self, by: Duration) {
        sleep(by).await;
    }
}

mod moka {
    skipstore_contract::contract_tests!(super::Moka);
}

mod dashmap {
    skipstore_contract::contract_tests!(super::DashMap);
}

mod scc {
    skipstore_contract::contract_tests!(super::Scc);
}
