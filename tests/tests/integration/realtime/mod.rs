//! End-to-end tests of the real-time driver (`bitsim::realtime`) over
//! loopback against `bitsim-server` started in-process on port 0; faults
//! go through the server's control API over real HTTP.

mod access;
mod backend;
pub(crate) mod common;
mod downloads;
mod faults;
mod launcher;
mod persistence;
mod reply;
mod tls;
mod uploads;
