//! Loss of the invalidation stream: the server killed (-9) and restarted
//! with writes made while the replicas were cut off; only the tracking
//! connection killed; a server that stops answering (heartbeat); reads
//! while the server is down.

use std::time::{Duration, Instant};

use entelix_core::{Error, ExecutionContext};
use entelix_memory::Store;
use skipstore::redis::NearCache;

use super::fixture::{self, eventually, ns, plain, tracking_ids};

async fn fill(replicas: &[NearCache<String>], key: &str, want: &str) {
    let ctx = ExecutionContext::new();
    for r in replicas {
        for _ in 0..2 {
            let got = r.get(&ctx, &ns(), key).await.unwrap();
            assert_eq!(got.as_deref(), Some(want));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_no_replica_serves_a_value_from_before() {
    let mut server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    for key in ["a", "b"] {
        r[0].put(&ctx, &ns(), key, "before".into()).await.unwrap();
    }
    fill(&r, "a", "before").await;
    fill(&r, "b", "before").await;
    server.kill();
    // Once a replica notices, every read fails: none serves its local copy.
    // With the fixture's short settings (one retry, 200 ms connect
    // timeout) each fails fast; the bound is generous, not a timing test.
    for (i, replica) in r.iter().enumerate() {
        eventually(&format!("replica {i} to notice"), || async {
            !replica.stats().tracking
        })
        .await;
        let start = Instant::now();
        let err = replica.get(&ctx, &ns(), "b").await.unwrap_err();
        assert!(matches!(err, Error::Provider { .. }), "{err:?}");
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "a read on a dead server took {took:?}"
        );
    }
    assert!(r[0].put(&ctx, &ns(), "c", "x".into()).await.is_err());
    assert!(r[0].list(&ctx, &ns(), None).await.is_err());
    // Back (empty: no persistence); a plain connection writes before the
    // replicas have re-established tracking.
    server.restart().unwrap();
    let row = r[0].remote().row_key(&ns(), "a");
    let mut cli = plain(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg(&row)
        .arg("-;\"after\"")
        .query_async(&mut cli)
        .await
        .unwrap();
    for (i, replica) in r.iter().enumerate() {
        eventually(&format!("replica {i} to track again"), || async {
            let stats = replica.stats();
            // Every read meanwhile is an error or a value from after.
            if let Ok(got) = replica.get(&ctx, &ns(), "b").await {
                assert_eq!(got, None, "replica {i} served a value from before");
            }
            if let Ok(got) = replica.get(&ctx, &ns(), "a").await {
                assert_eq!(got.as_deref(), Some("after"));
            }
            stats.tracking && stats.reconnects >= 1
        })
        .await;
        for _ in 0..3 {
            assert_eq!(replica.get(&ctx, &ns(), "b").await.unwrap(), None);
            let got = replica.get(&ctx, &ns(), "a").await.unwrap();
            assert_eq!(got.as_deref(), Some("after"));
        }
    }
    // And they fill again.
    let hits = r[1].stats().local_hits;
    assert_eq!(
        r[1].get(&ctx, &ns(), "a").await.unwrap().as_deref(),
        Some("after")
    );
    assert!(r[1].stats().local_hits > hits);
}

/// Only the tracking connections die, and a write lands in the same
/// transaction, so no invalidation ever names it: the replicas must drop
/// their copies because the stream was lost, not because of the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_tracking_connection_clears_and_tracking_returns() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 2).await;
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "k", "old".into()).await.unwrap();
    fill(&r, "k", "old").await;
    let mut cli = plain(&server.url()).await;
    let ids = tracking_ids(&mut cli).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let row = r[0].remote().row_key(&ns(), "k");
    fixture::kill_and_write(&mut cli, &ids, &row, "\"new\"").await;
    for (i, replica) in r.iter().enumerate() {
        fixture::tracks_again(i, replica).await;
        // The copies of before the loss are gone, though no invalidation
        // named the write.
        assert_eq!(
            replica.get(&ctx, &ns(), "k").await.unwrap().as_deref(),
            Some("new")
        );
        let stats = replica.stats();
        assert!(stats.full_clears >= 2, "{stats:?}");
    }
    fill(&r, "k", "new").await;
    // Tracking works on the new link.
    r[1].put(&ctx, &ns(), "k", "newer".into()).await.unwrap();
    eventually("replica 0 to see the write on the new link", || async {
        r[0].get(&ctx, &ns(), "k").await.unwrap().as_deref() == Some("newer")
    })
    .await;
}

/// A server that stops answering without closing anything (CLIENT PAUSE):
/// the heartbeat notices, the tier is cleared, and tracking returns. The
/// pause outlasts the 100 ms heartbeat many times over, so a heartbeat that
/// a loaded machine runs late still falls inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_noticed_by_the_heartbeat() {
    let server = fixture::server();
    let every = Duration::from_millis(100);
    let r = [fixture::replica_with_heartbeat(&server.url(), &fixture::prefix(), every).await];
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "k", "v".into()).await.unwrap();
    fill(&r, "k", "v").await;
    let clears = r[0].stats().full_clears;
    let mut cli = plain(&server.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(5_000)
        .arg("ALL")
        .query_async(&mut cli)
        .await
        .unwrap();
    eventually("the heartbeat to notice", || async {
        !r[0].stats().tracking
    })
    .await;
    assert!(r[0].stats().full_clears > clears);
    eventually("tracking to return", || async { r[0].stats().tracking }).await;
    fill(&r, "k", "v").await;
    tokio::time::sleep(Duration::from_millis(1)).await;
}
