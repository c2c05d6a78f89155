//! The two steps of an overwrite, pulled apart on a real server: what the
//! second step must do when it runs late. These call the store's private
//! steps, so they live beside it rather than in `tests/`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use super::{RedisStore, deadline_for, now_ns};
use crate::redis::layout::row_header;
use crate::redis::local::LocalRedis;

fn ns() -> Namespace {
    Namespace::new(TenantId::new("acme")).with_scope("agent")
}

/// An overwrite gives a row a 1 ms TTL (its first step, `SET ... XX GET
/// PX 1`), and its second step, which moves the row's deadline hint
/// earlier, runs only once Redis has dropped the row, as it does when the
/// machine is slow. The hint must still come due: otherwise the key stays
/// in its namespace's index under the old row's hour-long hint, the
/// namespace is listed with no live row in it, and `evict_expired` does not
/// count the row (the contract case `dyn_store_supports_every_method`
/// failed so under load: `evict_expired` returned 0, not 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_step_that_finds_its_row_expired_leaves_it_due() {
    let server = LocalRedis::start().unwrap_or_else(|e| panic!("{e}"));
    let store: RedisStore<String> = RedisStore::builder()
        .url(server.url())
        .key_prefix("settle:")
        .build()
        .await
        .unwrap();
    let ctx = ExecutionContext::new();
    let hour = PutOptions::default().with_ttl(Duration::from_secs(3600));
    store
        .put_with_options(&ctx, &ns(), "b", "long".into(), hour)
        .await
        .unwrap();
    // The first step, as `overwrite` sends it.
    let now = now_ns();
    let (deadline, px) = deadline_for(now, Duration::from_millis(1)).unwrap();
    let mut payload = row_header(Some(deadline));
    payload.extend_from_slice(b"\"short\"");
    let row = store.inner.layout.row_key(&ns(), "b");
    let mut conn = store.conn();
    let old: Option<Vec<u8>> = redis::cmd("SET")
        .arg(&row)
        .arg(&payload)
        .arg("XX")
        .arg("GET")
        .arg("PX")
        .arg(px)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(old.is_some(), "the first write left no row");
    // Redis drops the row at its PX: wait for that, then run the second
    // step.
    let began = Instant::now();
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&row)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !exists {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "never expired");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let trim_upto = now / 1_000;
    store
        .settle_put(&ns(), "b", false, Some(deadline), trim_upto)
        .await
        .unwrap();
    let listed = store
        .list_namespaces(&ctx, &NamespacePrefix::new(TenantId::new("acme")))
        .await
        .unwrap();
    assert!(listed.is_empty(), "listed with no live row: {listed:?}");
    assert_eq!(store.evict_expired(&ctx).await.unwrap(), 1);
    assert!(store.list(&ctx, &ns(), None).await.unwrap().is_empty());
    assert_eq!(store.evict_expired(&ctx).await.unwrap(), 0);
}
