//! Bad input and faults: a server killed mid-call and restarted, values of
//! another type or encoding at our keys, cancelled and late contexts, a
//! 1 MiB value, a 10,000-segment namespace.

use std::time::Duration;

use entelix_core::{Error, ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, Store};
use skipstore::redis::{Codec, RedisStore};

use super::fixture;

fn ns() -> Namespace {
    Namespace::new(TenantId::new("acme")).with_scope("agent")
}

/// Cancels `ctx` after `yields` turns of the scheduler.
fn cancel_soon(ctx: ExecutionContext, yields: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        ctx.cancellation().cancel();
    })
}

/// Checks that `err` is a `Config` error that names the row key `row` and
/// says `what`.
fn assert_names_key(err: &Error, row: &str, what: &str) {
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&row.escape_debug().to_string()),
        "{message}"
    );
    assert!(message.contains(what), "{message}");
}

/// A get and a put of `k`, where `row` holds a value of another type,
/// both fail with an error naming the row key and saying `what`.
async fn assert_get_and_put_refused(
    store: &RedisStore<String>,
    ctx: &ExecutionContext,
    row: &str,
    what: &str,
) {
    for err in [
        store.get(ctx, &ns(), "k").await.unwrap_err(),
        store.put(ctx, &ns(), "k", "v".into()).await.unwrap_err(),
    ] {
        assert_names_key(&err, row, what);
    }
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    fixture::raw(url).await
}

/// Writes `k` on a live server through a store with short timeouts: a
/// loaded machine may let one answer take longer than they allow, which is
/// not what these tests are about, so the write is tried until it lands.
async fn put_while_up(store: &RedisStore<String>, ctx: &ExecutionContext) {
    let start = std::time::Instant::now();
    while let Err(e) = store.put(ctx, &ns(), "k", "v".into()).await {
        assert!(start.elapsed() < Duration::from_secs(20), "{e:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With short settings, a call on a server that is down fails fast (the
/// defaults' reconnection attempts take about 6 s); the bound is generous,
/// this is not a timing test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_retry_settings_fail_fast_on_a_dead_server() {
    let mut server = fixture::server();
    let store: RedisStore<String> = RedisStore::builder()
        .url(server.url())
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200))
        .retries(1)
        .build()
        .await
        .unwrap();
    let ctx = ExecutionContext::new();
    put_while_up(&store, &ctx).await;
    server.kill();
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let err = store.get(&ctx, &ns(), "k").await.unwrap_err();
        assert!(matches!(err, Error::Provider { .. }), "{err:?}");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(5), "a call took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_a_clear_error_and_the_store_recovers() {
    let mut server = fixture::server();
    let store: RedisStore<String> = RedisStore::builder()
        .url(server.url())
        .response_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let ctx = ExecutionContext::new();
    put_while_up(&store, &ctx).await;
    // Calls in flight while the server dies fail with a network error; none
    // hangs past the response timeout.
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_secs(10) {
                    if let Err(e) = store.put(&ctx, &ns(), &format!("k{i}"), "x".into()).await {
                        return Some(e);
                    }
                }
                None
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    for call in calls {
        let err = call
            .await
            .unwrap()
            .expect("a call kept succeeding on a dead server");
        assert!(matches!(err, Error::Provider { .. }), "{err:?}");
        assert!(err.to_string().contains("redis store: put on key"), "{err}");
    }
    let err = store.get(&ctx, &ns(), "k").await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("redis store: get on key"), "{message}");
    // Back on the same port (empty: no persistence): the store works again.
    server.restart().unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        if store.put(&ctx, &ns(), "k", "again".into()).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "the store did not reconnect");
    assert_eq!(
        store.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
        Some("again")
    );
    assert_eq!(store.list(&ctx, &ns(), None).await.unwrap(), ["k"]);
}

#[tokio::test]
async fn a_value_of_another_type_at_our_key_is_a_clear_error() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let ctx = ExecutionContext::new();
    let row = store.row_key(&ns(), "k");
    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("RPUSH")
        .arg(&row)
        .arg("plain")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_get_and_put_refused(&store, &ctx, &row, "another Redis type").await;
    // The refused put changed nothing: not the foreign value, not the indexes.
    let still: Vec<String> = redis::cmd("LRANGE")
        .arg(&row)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(still, ["plain"]);
    assert!(store.list(&ctx, &ns(), None).await.unwrap().is_empty());
    let tenant = NamespacePrefix::new(TenantId::new("acme"));
    assert!(
        store
            .list_namespaces(&ctx, &tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A hash row of the previous layout (version 1) is a value of another
/// type: a clear error on get and put, and left as it is.
#[tokio::test]
async fn a_hash_row_of_the_old_layout_is_a_clear_error() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let ctx = ExecutionContext::new();
    let row = store.row_key(&ns(), "k");
    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("HSET")
        .arg(&row)
        .arg("v")
        .arg("\"old\"")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_get_and_put_refused(&store, &ctx, &row, "WRONGTYPE").await;
    let kind: String = redis::cmd("TYPE")
        .arg(&row)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "hash");
}

/// A string that is not a row (no header) at our key: `get` names the key;
/// a `put` replaces it with a row, listed like any other.
#[tokio::test]
async fn a_string_that_is_not_a_row_is_a_clear_error_then_replaced() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let ctx = ExecutionContext::new();
    let row = store.row_key(&ns(), "k");
    let mut conn = raw(&server.url()).await;
    for (i, foreign) in ["plain", "{\"v\":1}", "123456789012345678;x"]
        .into_iter()
        .enumerate()
    {
        let _: () = redis::cmd("SET")
            .arg(&row)
            .arg(foreign)
            .query_async(&mut conn)
            .await
            .unwrap();
        let err = store.get(&ctx, &ns(), "k").await.unwrap_err();
        assert_names_key(&err, &row, "no row header");
        let options = if i == 1 {
            entelix_memory::PutOptions::default().with_ttl(Duration::from_secs(60))
        } else {
            entelix_memory::PutOptions::default()
        };
        store
            .put_with_options(&ctx, &ns(), "k", "mine".into(), options)
            .await
            .unwrap();
        assert_eq!(
            store.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
            Some("mine")
        );
        assert_eq!(store.list(&ctx, &ns(), None).await.unwrap(), ["k"]);
        store.delete(&ctx, &ns(), "k").await.unwrap();
    }
}

#[tokio::test]
async fn an_undecodable_value_is_a_clear_error_naming_the_key() {
    let server = fixture::server();
    let json = fixture::store::<Vec<u32>>(&server).await;
    let ctx = ExecutionContext::new();
    let row = json.row_key(&ns(), "k");
    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg(&row)
        .arg("-;{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = json.get(&ctx, &ns(), "k").await.unwrap_err();
    assert_names_key(&err, &row, "cannot be decoded as json");
}

#[tokio::test]
async fn a_cancelled_or_late_context_writes_nothing() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let ok = ExecutionContext::new();
    let cancelled = ExecutionContext::new();
    cancelled.cancellation().cancel();
    let err = store
        .put(&cancelled, &ns(), "k", "v".into())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let late = ExecutionContext::new().with_deadline(tokio::time::Instant::now());
    let err = store.put(&late, &ns(), "k", "v".into()).await.unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err:?}");
    assert!(matches!(
        store.get(&cancelled, &ns(), "k").await,
        Err(Error::Cancelled)
    ));
    assert!(matches!(
        store.evict_expired(&cancelled).await,
        Err(Error::Cancelled)
    ));
    assert_eq!(store.get(&ok, &ns(), "k").await.unwrap(), None);
    assert!(store.list(&ok, &ns(), None).await.unwrap().is_empty());
    // Cancelled while in flight: the call errors or succeeds, and the row is
    // all there (value, key index, namespace index) or not there at all.
    let big = "x".repeat(64 * 1024);
    for i in 0..200 {
        let ctx = ExecutionContext::new();
        let key = format!("k{i}");
        let cancel = cancel_soon(ctx.clone(), i % 7);
        let result = store.put(&ctx, &ns(), &key, big.clone()).await;
        cancel.await.unwrap();
        let value = store.get(&ok, &ns(), &key).await.unwrap();
        let listed = store
            .list(&ok, &ns(), Some(&key))
            .await
            .unwrap()
            .contains(&key);
        match result {
            Ok(()) => assert!(value.is_some() && listed),
            Err(Error::Cancelled) => assert_eq!(value.is_some(), listed, "half-written {key}"),
            Err(e) => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn a_mebibyte_value_and_key_round_trip_in_both_codecs() {
    let server = fixture::server();
    let ctx = ExecutionContext::new();
    let value: String = (0..1 << 20)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for codec in [Codec::Json, Codec::MessagePack] {
        let store: RedisStore<String> = RedisStore::builder()
            .url(server.url())
            .key_prefix(fixture::prefix())
            .codec(codec)
            .build()
            .await
            .unwrap();
        store.put(&ctx, &ns(), &value, value.clone()).await.unwrap();
        assert_eq!(
            store.get(&ctx, &ns(), &value).await.unwrap().as_ref(),
            Some(&value)
        );
        assert_eq!(
            store.list(&ctx, &ns(), Some("abc")).await.unwrap(),
            std::slice::from_ref(&value)
        );
    }
}

#[tokio::test]
async fn a_ten_thousand_segment_namespace_works() {
    let server = fixture::server();
    let store = fixture::store::<u8>(&server).await;
    let ctx = ExecutionContext::new();
    let deep = (0..10_000).fold(Namespace::new(TenantId::new("acme")), |ns, i| {
        ns.with_scope(if i % 3 == 0 {
            format!("s:{i}\\")
        } else {
            String::new()
        })
    });
    store.put(&ctx, &deep, "k", 7).await.unwrap();
    assert_eq!(store.get(&ctx, &deep, "k").await.unwrap(), Some(7));
    assert_eq!(store.list(&ctx, &deep, None).await.unwrap(), ["k"]);
    let half = deep.scope()[..5_000]
        .iter()
        .fold(NamespacePrefix::new(TenantId::new("acme")), |p, s| {
            p.with_scope(s.clone())
        });
    assert_eq!(
        store.list_namespaces(&ctx, &half).await.unwrap(),
        std::slice::from_ref(&deep)
    );
    store.delete(&ctx, &deep, "k").await.unwrap();
    assert!(store.list_namespaces(&ctx, &half).await.unwrap().is_empty());
}

/// Concurrent puts travel in shared batches (the write combiner); each
/// caller still gets its own outcome: the puts at keys holding a value of
/// another type fail alone, the others land, listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_puts_keep_their_own_outcomes() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let mut conn = raw(&server.url()).await;
    for i in (0..128).step_by(8) {
        let _: i64 = redis::cmd("LPUSH")
            .arg(store.row_key(&ns(), &format!("k{i:03}")))
            .arg("foreign")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let calls: Vec<_> = (0..128)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let out = store
                    .put(&ctx, &ns(), &format!("k{i:03}"), format!("v{i}"))
                    .await;
                (i, out)
            })
        })
        .collect();
    let mut written = Vec::new();
    for call in calls {
        let (i, out) = call.await.unwrap();
        if i % 8 == 0 {
            let err = out.unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err:?}");
            assert!(err.to_string().contains("another Redis type"), "{err}");
        } else {
            out.unwrap();
            written.push(format!("k{i:03}"));
        }
    }
    let ctx = ExecutionContext::new();
    assert_eq!(store.list(&ctx, &ns(), None).await.unwrap(), written);
    for key in &written {
        assert!(
            store.get(&ctx, &ns(), key).await.unwrap().is_some(),
            "{key}"
        );
    }
}

/// Puts cancelled while they wait for a batch, or while it is in flight,
/// leave every row whole: each key is listed exactly when it has a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_batched_puts_leave_nothing_half_written() {
    let server = fixture::server();
    let store = fixture::store::<String>(&server).await;
    let calls: Vec<_> = (0..256)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let cancel = cancel_soon(ctx.clone(), i % 5);
                let options = entelix_memory::PutOptions::default()
                    .with_ttl(Duration::from_secs(if i % 2 == 0 { 60 } else { 3_600 }));
                let out = store
                    .put_with_options(&ctx, &ns(), &format!("k{i:03}"), "v".into(), options)
                    .await;
                cancel.await.unwrap();
                out
            })
        })
        .collect();
    for call in calls {
        if let Err(e) = call.await.unwrap() {
            assert!(matches!(e, Error::Cancelled), "{e:?}");
        }
    }
    // A batch taken before its callers gave up is still sent, and may land
    // after they returned, at any moment (a fixed 200 ms wait was not
    // enough on a loaded machine). Rows are only added here, each whole,
    // which is what this test checks: so a look is taken between two equal
    // listings, when nothing landed during it.
    let ctx = ExecutionContext::new();
    let start = std::time::Instant::now();
    loop {
        let listed = store.list(&ctx, &ns(), None).await.unwrap();
        let mut present = Vec::new();
        for i in 0..256 {
            let key = format!("k{i:03}");
            present.push((store.get(&ctx, &ns(), &key).await.unwrap().is_some(), key));
        }
        if store.list(&ctx, &ns(), None).await.unwrap() != listed {
            assert!(start.elapsed() < Duration::from_secs(20), "never quiet");
            continue;
        }
        for (has_value, key) in present {
            assert_eq!(has_value, listed.contains(&key), "{key}");
        }
        break;
    }
}
