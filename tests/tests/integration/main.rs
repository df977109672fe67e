//! The cross-crate tests, one binary (ripgrep style). Run one group with
//! `cargo test -p bitsim-tests --test integration realtime::` (or `sim::`,
//! `fuzz::`, `readme::`, `both_drivers::`).
//!
//! The golden traces stay in `tests/tests/snapshots/`: `sim::golden` names
//! that directory explicitly.

mod both_drivers;
mod fuzz;
mod readme;
mod realtime;
mod sim;
