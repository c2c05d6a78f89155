//! Changes made anywhere reach every replica: writes and deletes of another
//! replica, writes of a plain connection, expiry on the server, FLUSHALL;
//! and each replica reads its own writes at once.

use std::time::{Duration, Instant};

use entelix_core::{Error, ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::redis::NearCache;

use super::fixture::{self, eventually, ns, plain};

async fn reads(cache: &NearCache<String>, ns: &Namespace, key: &str) -> Option<String> {
    cache.get(&ExecutionContext::new(), ns, key).await.unwrap()
}

/// Reads `key` on every replica twice (a fill, then a local hit).
async fn fill_all(replicas: &[NearCache<String>], ns: &Namespace, key: &str, want: Option<&str>) {
    for r in replicas {
        assert_eq!(reads(r, ns, key).await.as_deref(), want);
        assert_eq!(reads(r, ns, key).await.as_deref(), want);
    }
}

async fn all_see(replicas: &[NearCache<String>], ns: &Namespace, key: &str, want: Option<&str>) {
    for (i, r) in replicas.iter().enumerate() {
        eventually(
            &format!("replica {i} to read {want:?} at {key:?}"),
            || async { reads(r, ns, key).await.as_deref() == want },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_deletes_of_one_replica_reach_the_others() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 3).await;
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "k", "v1".into()).await.unwrap();
    fill_all(&r, &ns(), "k", Some("v1")).await;
    assert!(r[1].stats().local_hits >= 1, "{:?}", r[1].stats());
    r[0].put(&ctx, &ns(), "k", "v2".into()).await.unwrap();
    // The writer reads its own write at once; the others once invalidated.
    assert_eq!(reads(&r[0], &ns(), "k").await.as_deref(), Some("v2"));
    all_see(&r, &ns(), "k", Some("v2")).await;
    fill_all(&r, &ns(), "k", Some("v2")).await;
    r[1].delete(&ctx, &ns(), "k").await.unwrap();
    assert_eq!(reads(&r[1], &ns(), "k").await, None);
    all_see(&r, &ns(), "k", None).await;
    for replica in &r {
        let stats = replica.stats();
        assert!(stats.tracking && stats.invalidations > 0, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_a_plain_connection_reach_every_replica() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "k", "v1".into()).await.unwrap();
    fill_all(&r, &ns(), "k", Some("v1")).await;
    let row = r[0].remote().row_key(&ns(), "k");
    let mut cli = plain(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg(&row)
        .arg("-;\"from cli\"")
        .query_async(&mut cli)
        .await
        .unwrap();
    all_see(&r, &ns(), "k", Some("from cli")).await;
    fill_all(&r, &ns(), "k", Some("from cli")).await;
    let _: () = redis::cmd("DEL")
        .arg(&row)
        .query_async(&mut cli)
        .await
        .unwrap();
    all_see(&r, &ns(), "k", None).await;
}

/// Reads `key` twice on every replica (a fill, then a local hit), all
/// within `within` of `since`; `None` if that took longer (a loaded
/// machine), when a row with that TTL may have expired meanwhile and the
/// reads prove nothing.
async fn fill_all_within(
    replicas: &[NearCache<String>],
    key: &str,
    since: Instant,
    within: Duration,
) -> Option<Vec<Option<String>>> {
    let mut got = Vec::new();
    for r in replicas {
        for _ in 0..2 {
            got.push(reads(r, &ns(), key).await);
        }
    }
    (since.elapsed() < within).then_some(got)
}

/// Expiry on the server: copies made before Redis drops a row go when it
/// does. Each step is tried on a fresh key until the copies were all made
/// before the row's TTL ran out (on a loaded machine they may not be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_on_the_server_reaches_every_replica() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    let mut cli = plain(&server.url()).await;
    // No TTL of our own: only Redis knows the row goes (PEXPIRE from a
    // plain connection), so only its invalidation can drop the copies.
    let ttl_ms = 300;
    for round in 0.. {
        assert!(round < 20, "no round filled within {ttl_ms} ms");
        let key = format!("k{round}");
        r[0].put(&ctx, &ns(), &key, "v".into()).await.unwrap();
        let row = r[0].remote().row_key(&ns(), &key);
        let since = Instant::now();
        let _: () = redis::cmd("PEXPIRE")
            .arg(&row)
            .arg(ttl_ms)
            .query_async(&mut cli)
            .await
            .unwrap();
        let within = Duration::from_millis(ttl_ms);
        let Some(got) = fill_all_within(&r, &key, since, within).await else {
            continue;
        };
        assert!(got.iter().all(|v| v.as_deref() == Some("v")), "{got:?}");
        all_see(&r, &ns(), &key, None).await;
        break;
    }
    // Our own TTLs: the local copy never outlives the row's deadline.
    let ttl = Duration::from_millis(200);
    for round in 0.. {
        assert!(round < 20, "no round filled within {ttl:?}");
        let key = format!("t{round}");
        let since = Instant::now();
        r[0].put_with_options(
            &ctx,
            &ns(),
            &key,
            "short".into(),
            PutOptions::default().with_ttl(ttl),
        )
        .await
        .unwrap();
        let Some(got) = fill_all_within(&r, &key, since, ttl).await else {
            continue;
        };
        assert!(got.iter().all(|v| v.as_deref() == Some("short")), "{got:?}");
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        for replica in &r {
            assert_eq!(reads(replica, &ns(), &key).await, None);
        }
        break;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_clears_every_replica() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    for key in ["a", "b", "c"] {
        r[0].put(&ctx, &ns(), key, key.into()).await.unwrap();
        fill_all(&r, &ns(), key, Some(key)).await;
    }
    let clears: Vec<u64> = r.iter().map(|x| x.stats().full_clears).collect();
    let mut cli = plain(&server.url()).await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut cli).await.unwrap();
    for key in ["a", "b", "c"] {
        all_see(&r, &ns(), key, None).await;
    }
    for (replica, before) in r.iter().zip(clears) {
        assert!(
            replica.stats().full_clears > before,
            "{:?}",
            replica.stats()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_read_redis_and_are_exact_at_once() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "a", "1".into()).await.unwrap();
    assert_eq!(r[1].list(&ctx, &ns(), None).await.unwrap(), ["a"]);
    r[0].put(&ctx, &ns().with_scope("child"), "b", "2".into())
        .await
        .unwrap();
    let prefix = NamespacePrefix::new(TenantId::new("acme"));
    assert_eq!(
        r[1].list_namespaces(&ctx, &prefix).await.unwrap(),
        [ns(), ns().with_scope("child")]
    );
    r[0].delete(&ctx, &ns(), "a").await.unwrap();
    assert!(r[1].list(&ctx, &ns(), None).await.unwrap().is_empty());
    assert_eq!(r[1].evict_expired(&ctx).await.unwrap(), 0);
}

/// Adversarial namespaces and keys: each replica's copy is found again from
/// the Redis key an invalidation names, whatever bytes it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_keys_are_invalidated_precisely() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    let odd = [
        ("a}b{c\\", vec!["", "x:y", "\\k", "\\"], "\\k:}{"),
        ("}", vec![], ""),
        ("t", vec!["*?[", "\0"], "é\0*"),
        ("t", vec!["*?["], "\\n"),
    ];
    let big = "x".repeat(1 << 20);
    for (tenant, scope, key) in &odd {
        let ns = scope
            .iter()
            .fold(Namespace::new(TenantId::new(*tenant)), |ns, s| {
                ns.with_scope(*s)
            });
        r[0].put(&ctx, &ns, key, "old".into()).await.unwrap();
        fill_all(&r, &ns, key, Some("old")).await;
        r[0].put(&ctx, &ns, key, big.clone()).await.unwrap();
        all_see(&r, &ns, key, Some(&big)).await;
        r[1].delete(&ctx, &ns, key).await.unwrap();
        all_see(&r, &ns, key, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_clear_errors() {
    let server = fixture::server();
    let err = NearCache::<String>::builder()
        .url(server.url())
        .key_prefix("a{b")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    // A server without cluster support given as a cluster node.
    let err = NearCache::<String>::builder()
        .cluster_nodes([server.url()])
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("cluster support disabled"),
        "{err}"
    );
    let err = NearCache::<String>::builder().build().await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = NearCache::<String>::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = NearCache::<String>::builder()
        .url(format!("redis://127.0.0.1:{closed}/"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
}

/// A value the codec cannot decode is an error naming the key, on every
/// read (it is never installed), and no panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_values_are_errors_and_never_cached() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 1).await;
    let row = r[0].remote().row_key(&ns(), "k");
    let mut cli = plain(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg(&row)
        .arg("-;not json")
        .query_async(&mut cli)
        .await
        .unwrap();
    let ctx = ExecutionContext::new();
    for _ in 0..2 {
        let err = r[0].get(&ctx, &ns(), "k").await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }
    assert_eq!(r[0].stats().fills, 0);
    // A string without a row header, then a list: each a clear error.
    let _: () = redis::cmd("SET")
        .arg(&row)
        .arg("a string")
        .query_async(&mut cli)
        .await
        .unwrap();
    let err = r[0].get(&ctx, &ns(), "k").await.unwrap_err();
    assert!(err.to_string().contains("no row header"), "{err}");
    let _: () = redis::cmd("DEL")
        .arg(&row)
        .query_async(&mut cli)
        .await
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(&row)
        .arg("a list")
        .query_async(&mut cli)
        .await
        .unwrap();
    let err = r[0].get(&ctx, &ns(), "k").await.unwrap_err();
    assert!(err.to_string().contains("another Redis type"), "{err}");
}
