//! `list_namespaces` under a tenant (500 conversations) and under an agent
//! (50), baseline beside skipstore, at 10k, 100k and 1M rows. The baseline
//! scans every row per call; skipstore scans the namespaces under the
//! prefix.

#![allow(clippy::disallowed_types)] // std Arc is fine outside the library

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use entelix_memory::NamespacePrefix;
use rand::RngExt;

use common::{Data, SIZES, Stores, ready, side_by_side};

fn under(
    c: &mut Criterion,
    data: &Data,
    stores: &Stores<'_>,
    name: &str,
    prefixes: &[NamespacePrefix],
) {
    side_by_side(c, name, stores, 1, |b, store| {
        let mut rng = Data::rng();
        b.iter(|| {
            let prefix = &prefixes[rng.random_range(0..prefixes.len())];
            black_box(ready(store.list_namespaces(&data.ctx, prefix)).ok())
        });
    });
}

fn namespace_listing(c: &mut Criterion) {
    for rows in SIZES {
        let data = Data::new(rows);
        let stores = Stores::new(&data);
        under(c, &data, &stores, "list_namespaces_tenant", &data.tenants);
        under(c, &data, &stores, "list_namespaces_agent", &data.agents);
    }
}

criterion_group!(benches, namespace_listing);
criterion_main!(benches);
