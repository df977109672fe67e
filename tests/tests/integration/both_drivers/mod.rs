//! Every decision of `bitsim_model::manual::decisions` (the table in
//! `crates/bitsim-model/src/manual/decisions.md`) written once as a case
//! over [`bitsim::Backend`] and run through both drivers of the one model:
//! the simulator (`SimBackend`, virtual time) and the real-time driver
//! (`RtBackend`, real HTTP to bitsim-server over loopback, real files, the
//! real clock). The rule lives in the model; these pin that every driver
//! applies it. Each decision has a case named after it in [`cases`]
//! (`a01_...` for A1: two digits, as in the model's own tests) and two
//! tests, `a01_..._on_the_simulator` and `a01_..._on_the_real_time_driver`;
//! where a decision cannot be observed through the `Backend` API in one of
//! the drivers, the manual's "Two-driver tests" table says why, and
//! [`coverage`] fails for a decision with neither.
//!
//! Real-time cases stay short: cases that would wait days use a `Policy`
//! with a short value on both drivers (the decision is about what happens,
//! not the default), failing callbacks are re-called after the policy's
//! 1 s instead of MinimumRetryDelay, and the only waits on BITS's 5 s
//! floor are A6 and A27, whose decisions are about that delay.
//!
//! (The conformance suite, `cargo test -p bitsim-windows`, runs its 22
//! cases through both drivers too.)

mod cases;
mod coverage;
mod world;
