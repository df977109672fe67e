//! The CLI's integration tests, one binary (ripgrep style): each module
//! runs the real `bitsim` executable as a user would.
//!
//! Run one group with `cargo test -p bitsim-cli --test integration serve::`
//! (or `cli::`, `jobs::`, `service::`, `transfer::`, `wine::`).

mod cli;
mod common;
mod jobs;
mod serve;
mod service;
mod transfer;
mod wine;
