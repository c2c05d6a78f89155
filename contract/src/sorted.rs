//! An adapter that sorts a store's listings, to record a store's other
//! breaches of the contract deterministically.

use std::sync::Arc;

use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

/// Wraps a store whose `list` and `list_namespaces` come back in an order
/// that changes from run to run (a `HashMap`'s, or Redis `SCAN`'s), and sorts
/// them: keys by bytes, namespaces by rendered form, as the contract wants.
/// Nothing else changes: duplicates are kept, and every other method is
/// passed through as is.
///
/// The cases that check order would otherwise pass or fail by chance on such
/// a store (a listing of two keys is sorted half the time), so a test that
/// records the exact set of cases a store fails (see
/// [`Report::assert_failures`](crate::Report::assert_failures)) runs it
/// behind this adapter, and says that unsorted listings are a breach of
/// their own.
pub struct SortedListings<V> {
    inner: Arc<dyn Store<V>>,
}

impl<V> SortedListings<V> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store<V>>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl<V> Store<V> for SortedListings<V>
where
    V: Clone + Send + Sync + 'static,
{
    async fn put_with_options(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        key: &str,
        value: V,
        options: PutOptions,
    ) -> Result<()> {
        self.inner
            .put_with_options(ctx, ns, key, value, options)
            .await
    }

    async fn put(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str, value: V) -> Result<()> {
        self.inner.put(ctx, ns, key, value).await
    }

    async fn get(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        self.inner.get(ctx, ns, key).await
    }

    async fn delete(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        self.inner.delete(ctx, ns, key).await
    }

    async fn list(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut keys = self.inner.list(ctx, ns, prefix).await?;
        keys.sort_unstable();
        Ok(keys)
    }

    async fn list_namespaces(
        &self,
        ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        let mut spaces = self.inner.list_namespaces(ctx, prefix).await?;
        spaces.sort_by_cached_key(Namespace::render);
        Ok(spaces)
    }

    async fn evict_expired(&self, ctx: &ExecutionContext) -> Result<usize> {
        self.inner.evict_expired(ctx).await
    }
}
