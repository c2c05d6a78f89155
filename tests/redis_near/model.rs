//! A model test over several replicas: random puts, TTL puts, deletes and
//! reads spread over three replicas (and a plain connection's writes),
//! checked as they go (a replica reads its own writes; any read returns a
//! value that was written at that key) and, after quiescence, every replica
//! agrees with Redis and with the model.

use std::collections::BTreeMap;
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, PutOptions, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::fixture::{self, eventually};

const KEYS: usize = 6;
const OPS: usize = 600;

fn namespaces() -> [Namespace; 2] {
    let acme = Namespace::new(TenantId::new("acme"));
    [acme.clone().with_scope("a"), acme.with_scope("a:b")]
}

/// What the model knows of one key.
#[derive(Default)]
struct Slot {
    /// The live value, if any (a TTL of 1 ms counts as gone at once).
    value: Option<String>,
    /// Every value ever written at the key.
    history: Vec<String>,
    /// The replica that wrote or deleted it last, if one did.
    last_writer: Option<usize>,
    /// The last write had a 1 ms TTL: reads may see it or not.
    fleeting: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_with_redis_and_the_model() {
    let server = fixture::server();
    let r = fixture::replicas(&server, 3).await;
    let ctx = ExecutionContext::new();
    let spaces = namespaces();
    let mut model: BTreeMap<(usize, usize), Slot> = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(0x6e65_6172);
    for op in 0..OPS {
        let who = rng.random_range(0..r.len());
        let at = (rng.random_range(0..spaces.len()), rng.random_range(0..KEYS));
        let (ns, key) = (&spaces[at.0], format!("k{}", at.1));
        let slot = model.entry(at).or_default();
        let value = format!("v{op}");
        match rng.random_range(0..10) {
            0..=2 => {
                r[who].put(&ctx, ns, &key, value.clone()).await.unwrap();
                slot.value = Some(value.clone());
                slot.fleeting = false;
            }
            3 => {
                let ttl = PutOptions::default().with_ttl(Duration::from_secs(3600));
                r[who]
                    .put_with_options(&ctx, ns, &key, value.clone(), ttl)
                    .await
                    .unwrap();
                slot.value = Some(value.clone());
                slot.fleeting = false;
            }
            4 => {
                let ttl = PutOptions::default().with_ttl(Duration::from_millis(1));
                r[who]
                    .put_with_options(&ctx, ns, &key, value.clone(), ttl)
                    .await
                    .unwrap();
                slot.value = None;
                slot.fleeting = true;
            }
            5 => {
                r[who].delete(&ctx, ns, &key).await.unwrap();
                slot.value = None;
                slot.fleeting = false;
            }
            _ => {
                let got = r[who].get(&ctx, ns, &key).await.unwrap();
                if let Some(v) = &got {
                    assert!(slot.history.contains(v), "op {op}: {v:?} was never written");
                }
                if slot.last_writer == Some(who) && !slot.fleeting {
                    assert_eq!(got, slot.value, "op {op}: replica {who} lost its own write");
                }
                continue;
            }
        }
        slot.history.push(value);
        slot.last_writer = Some(who);
    }
    // Quiescence: every 1 ms TTL is over; every replica converges.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for (at, slot) in &model {
        let (ns, key) = (&spaces[at.0], format!("k{}", at.1));
        let remote = r[0].remote().get(&ctx, ns, &key).await.unwrap();
        assert_eq!(
            remote, slot.value,
            "Redis disagrees with the model at {at:?}"
        );
        for (i, replica) in r.iter().enumerate() {
            eventually(&format!("replica {i} to agree at {at:?}"), || async {
                replica.get(&ctx, ns, &key).await.unwrap() == slot.value
            })
            .await;
            // And it stays so once filled (a hit, not a miss, when present).
            assert_eq!(replica.get(&ctx, ns, &key).await.unwrap(), slot.value);
        }
    }
    let hits: u64 = r.iter().map(|x| x.stats().local_hits).sum();
    assert!(hits > 0, "no read was served locally");
}
