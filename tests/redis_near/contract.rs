//! The shared trait-contract suite (`skipstore-contract`) against
//! `NearCache`: a replica in front of one server keeps the contract of
//! `SkipStore` (it reads its own writes, listings are exact, TTLs exact).

use std::sync::Arc;
use std::time::Duration;

use entelix_memory::Store;
use skipstore::redis::NearCache;
use skipstore_contract::{Harness, StoreValue, run_all};

use super::fixture;

/// A near cache on one server (`url`) or on a cluster (`cluster`, when
/// `url` is `None`); every store under a fresh prefix.
pub struct Near {
    pub url: Option<String>,
    pub cluster: Vec<String>,
}

impl Harness for Near {
    async fn store<V: StoreValue>(&self) -> entelix_core::Result<Arc<dyn Store<V>>> {
        let mut builder = NearCache::<V>::builder().key_prefix(fixture::prefix());
        builder = match &self.url {
            Some(url) => builder.url(url.clone()),
            None => builder.cluster_nodes(self.cluster.clone()),
        };
        Ok(Arc::new(builder.build().await?))
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_for_a_near_cache() {
    let server = fixture::server();
    let report = run_all(Near {
        url: Some(server.url()),
        cluster: Vec::new(),
    })
    .await;
    report.assert_failures(&[]);
}
