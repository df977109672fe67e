//! Upload benchmarks (placeholder).
fn main() {}
