//! Fuzzer throughput: small generated scenarios run and checked against the
//! BITS invariants, per second on one core.
//!
//! `cargo bench -p bitsim --bench fuzz`

use bitsim::fuzz::{Campaign, small_scenarios};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("fuzz");
    g.sample_size(10);
    const CASES: u32 = 1000;
    g.throughput(Throughput::Elements(u64::from(CASES)));
    g.bench_function("small_scenarios_1000_cases", |b| {
        b.iter(|| {
            let o = Campaign::new(small_scenarios()).cases(CASES).seed(11).run();
            assert!(o.failure.is_none(), "{}", o.failure.unwrap());
            o.cases
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
