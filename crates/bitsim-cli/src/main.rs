//! The `bitsim` command-line tool.

fn main() {}
