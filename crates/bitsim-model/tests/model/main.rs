//! The bitsim-model test suite, as one integration-test binary.
//!
//! * `transitions`: one test per row T1-T34 and X1-X4 of the transition table.
//! * `rules`: the notification, timer, upload, state-validity, limit,
//!   isolation and scheduler rules outside the table.
//! * `decisions`: one test per decision A1.. of `manual/decisions.md`.
//! * `properties`: proptest over random call/event sequences.

mod decisions;
mod properties;
mod rules;
mod support;
mod transitions;
