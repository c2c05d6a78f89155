//! `NearCache` on a 3-master Redis Cluster: the contract suite, changes to
//! rows of tenants on different masters reaching every replica, FLUSHALL on
//! every master, one master's tracking connection killed, and a master
//! killed and restarted.

use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, Store};
use skipstore::redis::NearCache;
use skipstore::redis::local::LocalCluster;
use skipstore_contract::run_all;

use super::contract::Near;
use super::fixture::{self, eventually, owner, plain, plain_cluster, tracking_ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_for_a_near_cache_on_a_cluster() {
    let cluster = fixture::cluster();
    let report = run_all(Near {
        url: None,
        cluster: cluster.urls(),
    })
    .await;
    report.assert_failures(&[]);
}

/// One namespace per master: tenants picked so that their rows at `key`
/// land on masters 0, 1 and 2 (checked by asking the nodes).
async fn one_per_master(
    cache: &NearCache<String>,
    cluster: &LocalCluster,
    key: &str,
) -> Vec<Namespace> {
    let mut found: Vec<Option<Namespace>> = vec![None, None, None];
    for i in 0..1_000 {
        let ns = Namespace::new(TenantId::new(format!("tenant{i}"))).with_scope("agent");
        let at = owner(cluster, &cache.remote().row_key(&ns, key)).await;
        found[at].get_or_insert(ns);
        if found.iter().all(Option::is_some) {
            return found.into_iter().flatten().collect();
        }
    }
    panic!("no tenants on every master: {found:?}");
}

async fn reads(cache: &NearCache<String>, ns: &Namespace, key: &str) -> Option<String> {
    cache.get(&ExecutionContext::new(), ns, key).await.unwrap()
}

/// Writes `value` at `key` in every namespace through `replica`.
async fn put_all(replica: &NearCache<String>, spaces: &[Namespace], key: &str, value: &str) {
    let ctx = ExecutionContext::new();
    for ns in spaces {
        replica.put(&ctx, ns, key, value.into()).await.unwrap();
    }
}

/// Reads `key` in every namespace on every replica twice (a fill, then a
/// local hit).
async fn fill_all(r: &[NearCache<String>], spaces: &[Namespace], key: &str, want: Option<&str>) {
    for replica in r {
        for ns in spaces {
            assert_eq!(reads(replica, ns, key).await.as_deref(), want);
            assert_eq!(reads(replica, ns, key).await.as_deref(), want);
        }
    }
}

async fn all_see(r: &[NearCache<String>], spaces: &[Namespace], key: &str, want: Option<&str>) {
    for (i, replica) in r.iter().enumerate() {
        for ns in spaces {
            eventually(
                &format!("replica {i} to read {want:?} in {ns:?}"),
                || async { reads(replica, ns, key).await.as_deref() == want },
            )
            .await;
        }
    }
}

/// Writes a row (no TTL) as another client would.
async fn plain_write(cluster: &LocalCluster, row: &str, json: &str) {
    let mut cli = plain_cluster(cluster).await;
    let _: () = redis::cmd("SET")
        .arg(row)
        .arg(format!("-;{json}"))
        .query_async(&mut cli)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_every_master_reach_every_replica() {
    let cluster = fixture::cluster();
    let r = fixture::cluster_replicas(&cluster, 2).await;
    let spaces = one_per_master(&r[0], &cluster, "k").await;
    let ctx = ExecutionContext::new();
    put_all(&r[0], &spaces, "k", "v1").await;
    fill_all(&r, &spaces, "k", Some("v1")).await;
    assert!(r[1].stats().local_hits >= 3, "{:?}", r[1].stats());
    // Another replica's writes.
    put_all(&r[0], &spaces, "k", "v2").await;
    all_see(&r, &spaces, "k", Some("v2")).await;
    fill_all(&r, &spaces, "k", Some("v2")).await;
    // A plain connection's writes.
    for ns in &spaces {
        plain_write(&cluster, &r[0].remote().row_key(ns, "k"), "\"v3\"").await;
    }
    all_see(&r, &spaces, "k", Some("v3")).await;
    fill_all(&r, &spaces, "k", Some("v3")).await;
    // Deletes.
    for ns in &spaces {
        r[1].delete(&ctx, ns, "k").await.unwrap();
    }
    all_see(&r, &spaces, "k", None).await;
    for replica in &r {
        let stats = replica.stats();
        assert!(stats.tracking && stats.invalidations >= 9, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_on_every_master_clears_every_replica() {
    let cluster = fixture::cluster();
    let r = fixture::cluster_replicas(&cluster, 2).await;
    let spaces = one_per_master(&r[0], &cluster, "k").await;
    put_all(&r[0], &spaces, "k", "v").await;
    fill_all(&r, &spaces, "k", Some("v")).await;
    let clears: Vec<u64> = r.iter().map(|c| c.stats().full_clears).collect();
    for url in cluster.urls() {
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut plain(&url).await)
            .await
            .unwrap();
    }
    all_see(&r, &spaces, "k", None).await;
    for (replica, before) in r.iter().zip(clears) {
        let stats = replica.stats();
        assert!(stats.full_clears >= before + 3, "{stats:?}");
    }
}

/// Only one master's tracking connections die, and a write to a row on
/// that master lands in the same transaction, so no invalidation ever names
/// it: the replicas must drop their copies because one link was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_masters_tracking_connection_clears_and_tracking_returns() {
    let cluster = fixture::cluster();
    let r = fixture::cluster_replicas(&cluster, 2).await;
    let spaces = one_per_master(&r[0], &cluster, "k").await;
    put_all(&r[0], &spaces, "k", "old").await;
    fill_all(&r, &spaces, "k", Some("old")).await;
    let victim = 1;
    let mut cli = plain(&cluster.urls()[victim]).await;
    let ids = tracking_ids(&mut cli).await;
    assert_eq!(ids.len(), 2, "one tracking connection per replica: {ids:?}");
    let row = r[0].remote().row_key(&spaces[victim], "k");
    fixture::kill_and_write(&mut cli, &ids, &row, "\"new\"").await;
    for (i, replica) in r.iter().enumerate() {
        fixture::tracks_again(i, replica).await;
        let got = reads(replica, &spaces[victim], "k").await;
        assert_eq!(
            got.as_deref(),
            Some("new"),
            "replica {i} kept a copy across the loss"
        );
    }
    fill_all(&r, &spaces[victim..=victim], "k", Some("new")).await;
    // Tracking works on the new links, on every master.
    put_all(&r[1], &spaces, "k", "newer").await;
    all_see(&r[..1], &spaces, "k", Some("newer")).await;
}

/// A master killed (-9) and restarted empty, with a write to a row on
/// another master while the replicas were cut off: after the restart no
/// replica serves a value from before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_master_restart_no_replica_serves_a_value_from_before() {
    let mut cluster = fixture::cluster();
    let r = fixture::cluster_replicas(&cluster, 2).await;
    let spaces = one_per_master(&r[0], &cluster, "k").await;
    let ctx = ExecutionContext::new();
    put_all(&r[0], &spaces, "k", "before").await;
    fill_all(&r, &spaces, "k", Some("before")).await;
    let (victim, other) = (2, 0);
    cluster.kill(victim);
    for (i, replica) in r.iter().enumerate() {
        eventually(&format!("replica {i} to notice"), || async {
            !replica.stats().tracking
        })
        .await;
    }
    // Tracking cannot come back while a master is missing; meanwhile a
    // row on a live master changes.
    plain_write(
        &cluster,
        &r[0].remote().row_key(&spaces[other], "k"),
        "\"after\"",
    )
    .await;
    for replica in &r {
        assert!(!replica.stats().tracking, "tracking without every master");
        let got = reads(replica, &spaces[other], "k").await;
        assert_eq!(got.as_deref(), Some("after"));
    }
    cluster.restart(victim).unwrap();
    for (i, replica) in r.iter().enumerate() {
        fixture::tracks_again(i, replica).await;
        // The restarted master is empty; the other row was rewritten.
        eventually(
            &format!("replica {i} to read the restarted master"),
            || async { replica.get(&ctx, &spaces[victim], "k").await.is_ok() },
        )
        .await;
        for _ in 0..2 {
            assert_eq!(reads(replica, &spaces[victim], "k").await, None);
            let got = reads(replica, &spaces[other], "k").await;
            assert_eq!(got.as_deref(), Some("after"));
        }
    }
}

/// A master added and given a slot, while every tracked connection stays
/// up: the heartbeat's re-read of the masters notices, the cache starts a
/// new session that tracks the new master too, and its writes invalidate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_added_is_tracked_too() {
    let mut cluster = fixture::cluster();
    let prefix = fixture::prefix();
    let every = Duration::from_millis(200);
    let mut r = Vec::new();
    for _ in 0..2 {
        r.push(fixture::cluster_replica_with_heartbeat(&cluster.urls(), &prefix, every).await);
    }
    let ctx = ExecutionContext::new();
    let moved = Namespace::new(TenantId::new("moved")).with_scope("agent");
    let row = r[0].remote().row_key(&moved, "k");
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&row)
        .query_async(&mut plain(&cluster.urls()[0]).await)
        .await
        .unwrap();
    let added = cluster.add_node().unwrap();
    cluster.move_empty_slot(slot, added).unwrap();
    assert_eq!(owner(&cluster, &row).await, added);
    // Each replica tracks again, now with one link to the new master too.
    // (Waiting for a reconnection alone is not enough: a heartbeat that a
    // loaded machine ran late may have reconnected before the move.)
    let url = cluster.urls()[added].clone();
    eventually(
        "one tracking link per replica on the new master",
        || async {
            let links = tracking_ids(&mut plain(&url).await).await.len();
            r.iter().all(|x| x.stats().tracking) && links == 2
        },
    )
    .await;
    r[0].put(&ctx, &moved, "k", "v1".into()).await.unwrap();
    fill_all(&r, std::slice::from_ref(&moved), "k", Some("v1")).await;
    plain_write(&cluster, &row, "\"v2\"").await;
    all_see(&r, std::slice::from_ref(&moved), "k", Some("v2")).await;
}
