//! End-to-end tests of `bitsim-server` over loopback with a raw HTTP client.

mod client;
mod control;
mod downloads;
mod keepalive;
mod persistence;
mod protocol;
mod reply;
