//! `list` of one conversation (its ~100 keys) and `list` under a key
//! prefix (10 keys), baseline beside skipstore, at 10k, 100k and 1M rows.
//! The baseline scans the whole store for each call; skipstore scans the
//! conversation's own ordered keys.

#![allow(clippy::disallowed_types)] // std Arc is fine outside the library

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::RngExt;

use common::{Data, SIZES, Stores, ready, side_by_side};

fn list_conversation(c: &mut Criterion, data: &Data, stores: &Stores<'_>) {
    side_by_side(c, "list_conversation", stores, 1, |b, store| {
        let mut rng = Data::rng();
        b.iter(|| {
            let ns = data.conversation(&mut rng);
            black_box(ready(store.list(&data.ctx, ns, None)).ok())
        });
    });
}

fn list_prefix(c: &mut Criterion, data: &Data, stores: &Stores<'_>) {
    side_by_side(c, "list_key_prefix", stores, 1, |b, store| {
        let mut rng = Data::rng();
        b.iter(|| {
            let ns = data.conversation(&mut rng);
            let prefix = &data.prefixes[rng.random_range(0..data.prefixes.len())];
            black_box(ready(store.list(&data.ctx, ns, Some(prefix))).ok())
        });
    });
}

fn listing(c: &mut Criterion) {
    for rows in SIZES {
        let data = Data::new(rows);
        let stores = Stores::new(&data);
        list_conversation(c, &data, &stores);
        list_prefix(c, &data, &stores);
    }
}

criterion_group!(benches, listing);
criterion_main!(benches);
