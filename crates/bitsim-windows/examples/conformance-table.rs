//! Prints the conformance suite as a Markdown table: one row per case, one
//! column per implementation (the simulator, the real-time driver, bitsim
//! under Wine through bitsim-com, Wine's BITS, real BITS), from
//! the checked-in expected-outcome lists that the test runs enforce.
//!
//! ```sh
//! cargo run -p bitsim-windows --example conformance-table
//! ```
#![allow(clippy::print_stdout)] // an example's output is the point

fn main() {
    print!("{}", bitsim_windows::outcomes::readme_table());
}
