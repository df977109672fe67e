//! `bitsim wine`: an unmodified Windows BITS program under Wine, served by
//! bitsim (`bitsim-com.exe` in the prefix, `bitsim service` here).
//!
//! * `install --service ADDR`: registers `bitsim-com.exe` as the prefix's
//!   `CLSID_BackgroundCopyManager` server, forwarding to `ADDR`;
//! * `uninstall`: gives the CLSID back to the prefix's own BITS;
//! * `run [--scenario FILE] -- PROGRAM.exe ARGS`: starts a service on a free
//!   loopback port, installs, runs the program under Wine while moving the
//!   virtual clock `--scale` times faster than real time, prints the trace
//!   of every job when the program exits, and uninstalls. Its exit status
//!   is the program's.
//!
//! How the server reaches the program, and what it serves: the docs of the
//! `bitsim-com` crate.

use anyhow::{Context, bail};
use bitsim_com::proto::{Connection, Handler};
use bitsim_service::{Config, TcpService};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Arguments of `bitsim wine`.
#[derive(Debug, clap::Args)]
pub struct WineArgs {
    #[command(subcommand)]
    command: WineCommand,
}

/// Where Wine and bitsim-com.exe are.
#[derive(Debug, clap::Args)]
struct Where {
    /// The Wine prefix (default: $WINEPREFIX, else ~/.wine).
    #[arg(long)]
    prefix: Option<PathBuf>,
    /// bitsim-com.exe (default: $BITSIM_COM_EXE, else beside `bitsim` or in
    /// its target directory's x86_64-pc-windows-gnu/{debug,release}).
    #[arg(long)]
    com_exe: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum WineCommand {
    /// Make bitsim-com.exe the prefix's BITS, forwarding to a running
    /// `bitsim service --listen ADDR`.
    Install {
        /// The service's address, e.g. 127.0.0.1:7300.
        #[arg(long)]
        service: String,
        #[command(flatten)]
        at: Where,
    },
    /// Give CLSID_BackgroundCopyManager back to the prefix's own BITS.
    Uninstall {
        #[command(flatten)]
        at: Where,
    },
    /// Start a service, install, run PROGRAM under Wine, print the jobs'
    /// trace, uninstall. Exit status: the program's.
    Run {
        /// The simulated world (servers, files, faults); default: empty.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Seed of the run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Virtual seconds per real second while the program runs.
        #[arg(long, default_value_t = 600)]
        scale: u64,
        #[command(flatten)]
        at: Where,
        /// The program and its arguments (after `--`).
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
}

/// The Wine loader: $BITSIM_WINE, Debian's wine64, or wine64/wine on PATH.
fn wine() -> anyhow::Result<PathBuf> {
    if let Some(w) = std::env::var_os("BITSIM_WINE") {
        let w = PathBuf::from(w);
        if w.is_file() {
            return Ok(w);
        }
        bail!("Wine is missing: BITSIM_WINE={} is not a file", w.display());
    }
    let debian = PathBuf::from("/usr/lib/wine/wine64");
    if debian.is_file() {
        return Ok(debian);
    }
    for name in ["wine64", "wine"] {
        if let Some(dir) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&dir) {
                let p = d.join(name);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    bail!(
        "Wine is missing: install it (Debian: apt-get install wine64) or set BITSIM_WINE to its loader"
    )
}

fn com_exe(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("BITSIM_COM_EXE").map(PathBuf::from))
    {
        if p.is_file() {
            return Ok(p);
        }
        bail!("bitsim-com.exe: {} is not a file", p.display());
    }
    let me = std::env::current_exe().context("cannot find the bitsim executable")?;
    let dir = me.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![dir.join("bitsim-com.exe")];
    if let Some(target) = dir.parent() {
        for profile in ["debug", "release"] {
            candidates.push(
                target
                    .join("x86_64-pc-windows-gnu")
                    .join(profile)
                    .join("bitsim-com.exe"),
            );
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "bitsim-com.exe not found beside bitsim or in its target directory: build it with `cargo build --target x86_64-pc-windows-gnu -p bitsim-com` or pass --com-exe"
        )
    })
}

fn wine_command(wine: &Path, prefix: Option<&Path>) -> Command {
    let mut c = Command::new(wine);
    if let Some(p) = prefix {
        c.env("WINEPREFIX", p);
    }
    if std::env::var_os("WINEDEBUG").is_none() {
        c.env("WINEDEBUG", "-all");
    }
    if std::env::var_os("WINEDLLOVERRIDES").is_none() {
        c.env("WINEDLLOVERRIDES", "mscoree,mshtml=");
    }
    c
}

/// Runs `bitsim-com.exe ARGS` in the prefix.
fn com(at: &Where, args: &[&str]) -> anyhow::Result<()> {
    let wine = wine()?;
    let exe = com_exe(at.com_exe.as_deref())?;
    let status = wine_command(&wine, at.prefix.as_deref())
        .arg(&exe)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {}", wine.display()))?;
    if !status.success() {
        bail!("bitsim-com.exe {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `bitsim wine ...`; the exit status.
pub fn run(args: WineArgs) -> anyhow::Result<i32> {
    match args.command {
        WineCommand::Install { service, at } => {
            com(&at, &["install", &service])?;
            Ok(0)
        }
        WineCommand::Uninstall { at } => {
            com(&at, &["uninstall"])?;
            Ok(0)
        }
        WineCommand::Run {
            scenario,
            seed,
            scale,
            at,
            program,
        } => run_program(scenario.as_deref(), seed, scale, &at, &program),
    }
}

fn quiet() -> Handler {
    Box::new(|_, _| bitsim_model::Hresult::S_OK)
}

fn run_program(
    scenario: Option<&Path>,
    seed: u64,
    scale: u64,
    at: &Where,
    program: &[String],
) -> anyhow::Result<i32> {
    let wine = wine()?;
    com_exe(at.com_exe.as_deref())?;
    let world = match scenario {
        Some(p) => bitsim::Scenario::load(p)?,
        None => Config::empty_world(),
    };
    let service = TcpService::bind(Config::new(world, seed), "127.0.0.1:0")
        .context("cannot listen on loopback")?;
    let addr = service.local_addr();
    eprintln!("bitsim wine: service on {addr}, virtual clock x{scale}");
    com(at, &["install", &addr.to_string()])?;

    // The clock: `scale` virtual seconds per real second, in 100 ms steps.
    let control = Connection::connect(addr, "bitsim-wine", true, quiet())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let running = Arc::new(AtomicBool::new(true));
    let clock = {
        let (control, running) = (control.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if let Err(e) = control.call("clock.advance", json!({"ms": scale * 100})) {
                    tracing::warn!("clock.advance: {e}");
                    break;
                }
            }
        })
    };
    let status = wine_command(&wine, at.prefix.as_deref())
        .args(program)
        .env("BITSIM_SERVICE", addr.to_string())
        .status()
        .with_context(|| format!("cannot run {}", wine.display()));
    running.store(false, Ordering::SeqCst);
    let _ = clock.join();

    let trace = control
        .call("inspect.trace", json!({"since": 0}))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for entry in trace["entries"].as_array().into_iter().flatten() {
        println!("{entry}");
    }
    let uninstalled = com(at, &["uninstall"]);
    let status = status?;
    uninstalled?;
    eprintln!("bitsim wine: {} exited {status}", program[0]);
    Ok(status.code().unwrap_or(1))
}
