//! Mixed reads and writes on a filled store: 90/10 and 50/50 gets and
//! overwriting puts (Zipf-skewed keys), and an insert-then-delete pair of a
//! new key, baseline beside skipstore, at 10k, 100k and 1M rows.

#![allow(clippy::disallowed_types)] // std Arc is fine outside the library

mod common;

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::RngExt;

use common::{Data, SIZES, Stores, ready, side_by_side};

fn read_write_mix(c: &mut Criterion, data: &Data, stores: &Stores<'_>, read_percent: u32) {
    let name = format!("mixed_{read_percent}_{}", 100 - read_percent);
    side_by_side(c, &name, stores, 1, |b, store| {
        let mut rng = Data::rng();
        let mut n = 0u64;
        b.iter(|| {
            let (ns, key) = data.zipf(&mut rng);
            if rng.random_range(0..100) < read_percent {
                black_box(ready(store.get(&data.ctx, ns, key)).ok());
            } else {
                n += 1;
                black_box(ready(store.put(&data.ctx, ns, key, Data::value(n))).ok());
            }
        });
    });
}

/// A new key written and deleted again: two operations, store size steady.
fn insert_delete(c: &mut Criterion, data: &Data, stores: &Stores<'_>) {
    side_by_side(c, "insert_then_delete", stores, 2, |b, store| {
        let mut rng = Data::rng();
        let mut key = String::new();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            key.clear();
            let _ = write!(key, "new-{n:012}");
            let ns = data.conversation(&mut rng);
            black_box(ready(store.put(&data.ctx, ns, &key, Data::value(n))).ok());
            black_box(ready(store.delete(&data.ctx, ns, &key)).ok());
        });
    });
}

fn mixed(c: &mut Criterion) {
    for rows in SIZES {
        let data = Data::new(rows);
        let stores = Stores::new(&data);
        read_write_mix(c, &data, &stores, 90);
        read_write_mix(c, &data, &stores, 50);
        insert_delete(c, &data, &stores);
    }
}

criterion_group!(benches, mixed);
criterion_main!(benches);
