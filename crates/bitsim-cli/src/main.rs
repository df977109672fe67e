//! The `bitsim` command-line tool: run and check BITS scenarios, narrate
//! them, draw the state diagram.
#![allow(clippy::print_stdout)]

use std::io::IsTerminal;

use clap::Parser;

mod cpus;
mod jobs;
mod out;
mod serve;
mod service_cmd;
mod sim_cmd;
mod transfer;
mod wine_cmd;

/// bitsim: a cross-platform simulator of Windows BITS.
#[derive(Debug, Parser)]
#[command(name = "bitsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run one scenario: print its timeline and check its expectations
    /// (exit 0 when they hold, 1 when not, 2 on a malformed scenario).
    Run(sim_cmd::RunArgs),
    /// Run every scenario in a directory and print a summary table.
    Check(sim_cmd::CheckArgs),
    /// Narrate a scenario step by step, with the rule and doc page for each.
    Explain(sim_cmd::ExplainArgs),
    /// Print the job state diagram generated from the model's transition table.
    Diagram(sim_cmd::DiagramArgs),
    /// Perturb the world around a scenario (faults, server behaviour,
    /// timings) and check the BITS invariants and its properties; shrink
    /// any failure to a minimal case.
    Fuzz(sim_cmd::FuzzArgs),
    /// Run a BITS Upload Protocol + range-download server.
    Serve(serve::ServeArgs),
    /// Be BITS for clients in any language: the job API, notifications and
    /// a virtual clock over JSON-RPC 2.0 (TCP or stdio).
    Service(service_cmd::ServiceArgs),
    /// Download a file over HTTP as BITS does (real time, real bytes);
    /// exit 0 only when the job reached ACKNOWLEDGED.
    Download(transfer::DownloadArgs),
    /// Upload a file with the BITS Upload Protocol ([MC-BUP]), optionally
    /// as an upload-reply job; exit 0 only when the job reached ACKNOWLEDGED.
    Upload(transfer::UploadArgs),
    /// Manage BITS jobs like bitsadmin: list, info, cancel, complete,
    /// resume, suspend, on a running service (--service ADDR) or a
    /// persisted queue (--state PATH); exit 1 when BITS refuses the call.
    Jobs(jobs::JobsArgs),
    /// Run an unmodified Windows BITS program under Wine against bitsim:
    /// install/uninstall bitsim-com.exe in a prefix, or run a program with
    /// a service and a fast virtual clock and print the jobs' trace.
    Wine(wine_cmd::WineArgs),
}

fn main() {
    let cli = Cli::parse();
    // `serve` logs what it does (its address, each session) at info; the
    // other commands print their own lines, so their log shows only
    // warnings unless RUST_LOG asks for more.
    let default_log = match cli.command {
        Command::Serve(_) | Command::Service(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        // stderr, through the progress bar of download/upload when one is drawn.
        .with_writer(|| transfer::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr (a log pipe that went away) must not take the
        // server down: by default the subscriber reports a failed write
        // with eprintln!, which panics on a broken pipe.
        .log_internal_errors(false)
        .init();
    let code = match cli.command {
        Command::Run(args) => sim_cmd::run(args),
        Command::Check(args) => sim_cmd::check(args),
        Command::Explain(args) => sim_cmd::explain(args),
        Command::Diagram(args) => sim_cmd::diagram(args),
        Command::Fuzz(args) => sim_cmd::fuzz(args),
        Command::Download(args) => transfer::download(args),
        Command::Upload(args) => transfer::upload(args),
        Command::Jobs(args) => jobs::run(args),
        Command::Service(args) => match service_cmd::run(args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        Command::Wine(args) => match wine_cmd::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
    };
    std::process::exit(out::finish(code))
}
