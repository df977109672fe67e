//! The `bitsim` command-line tool.

use std::io::IsTerminal;

use clap::Parser;

mod serve;

/// bitsim: a cross-platform simulator of Windows BITS.
#[derive(Debug, Parser)]
#[command(name = "bitsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a BITS Upload Protocol + range-download server.
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
    }
}
