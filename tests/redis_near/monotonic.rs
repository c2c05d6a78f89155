//! Monotonic reads under load: one replica writes an increasing counter
//! while readers on the others read it in a loop; no reader ever sees it go
//! back, and every reader converges to the last write.

use std::time::{Duration, Instant};

use entelix_core::ExecutionContext;
use entelix_memory::Store;

use super::fixture::{self, PROPAGATION, ns};

const LAST: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_the_counter_go_back() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 3).await;
    let ctx = ExecutionContext::new();
    r[0].put(&ctx, &ns(), "counter", "0".into()).await.unwrap();
    let mut readers = Vec::new();
    for replica in &r[1..] {
        // Two readers per replica, so that their misses race each other.
        for _ in 0..2 {
            let replica = replica.clone();
            readers.push(tokio::spawn(async move {
                let ctx = ExecutionContext::new();
                let start = Instant::now();
                let mut seen = 0_u64;
                let mut reads = 0_u64;
                while seen < LAST {
                    assert!(start.elapsed() < PROPAGATION * 3, "stuck at {seen}");
                    let got = replica.get(&ctx, &ns(), "counter").await.unwrap();
                    let got: u64 = got.unwrap().parse().unwrap();
                    assert!(
                        got >= seen,
                        "went back from {seen} to {got}: {:?}",
                        replica.stats()
                    );
                    seen = got;
                    reads += 1;
                    if reads.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                reads
            }));
        }
    }
    let writer = r[0].clone();
    for i in 1..=LAST {
        writer
            .put(&ctx, &ns(), "counter", i.to_string())
            .await
            .unwrap();
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    for replica in &r[1..] {
        let stats = replica.stats();
        assert!(stats.local_hits > 0 && stats.fills > 0, "{stats:?}");
    }
}
