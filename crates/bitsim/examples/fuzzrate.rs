//! Times a fuzz campaign over small generated scenarios
//! (`cargo run --release -p bitsim --example fuzzrate -- 1000`).
#![allow(clippy::print_stdout)]

fn main() {
    let cases = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let o = bitsim::fuzz::Campaign::new(bitsim::fuzz::small_scenarios())
        .cases(cases)
        .seed(11)
        .run();
    println!(
        "{} cases in {:.3?}: {:.0} cases/s, failure: {}",
        o.cases,
        o.elapsed,
        o.rate(),
        o.failure.is_some()
    );
}
