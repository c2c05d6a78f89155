//! Point reads: `get` of present keys (uniform and Zipf-skewed) and of
//! absent keys, baseline beside skipstore, at 10k, 100k and 1M rows.

#![allow(clippy::disallowed_types)] // std Arc is fine outside the library

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;

use common::{Data, SIZES, Stores, ready, side_by_side};
use entelix_memory::Namespace;

type Pick = for<'a> fn(&'a Data, &mut StdRng) -> (&'a Namespace, &'a str);

fn point_reads(c: &mut Criterion) {
    let cases: [(&str, Pick); 3] = [
        ("get_present_uniform", Data::uniform),
        ("get_present_zipf", Data::zipf),
        ("get_absent", Data::absent),
    ];
    for rows in SIZES {
        let data = Data::new(rows);
        let stores = Stores::new(&data);
        for (name, pick) in cases {
            side_by_side(c, name, &stores, 1, |b, store| {
                let mut rng = Data::rng();
                b.iter(|| {
                    let (ns, key) = pick(&data, &mut rng);
                    black_box(ready(store.get(&data.ctx, ns, key)))
                });
            });
        }
    }
}

criterion_group!(benches, point_reads);
criterion_main!(benches);
