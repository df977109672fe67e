//! `bitsim service`: the BITS API over JSON-RPC (crate `bitsim-service`).

use bitsim::realtime::Launcher;
use bitsim_service::{Clock, Config, Service, Stopper, TcpService, World};
use std::path::{Path, PathBuf};

/// Arguments of `bitsim service`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("transport").required(true).args(["listen", "stdio"])))]
pub struct ServiceArgs {
    /// Listen for JSON-RPC clients on this TCP address (e.g. 127.0.0.1:7300).
    #[arg(long)]
    listen: Option<String>,
    /// Serve one client on stdin/stdout (logs go to stderr).
    #[arg(long)]
    stdio: bool,
    /// How virtual time moves: `virtual` (only by clock.* calls), `real`
    /// (the wall clock) or `scaled:N` (N virtual seconds per real second).
    #[arg(long, default_value = "virtual")]
    clock: Clock,
    /// Where transfers happen: `simulated` (the world of --scenario) or
    /// `http` (real transfers by the real-time driver, to real local paths;
    /// needs --clock real, takes no --scenario).
    #[arg(long, default_value = "simulated")]
    world: World,
    /// The simulated world: a scenario's servers, files, faults and policy.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Persist the queue in this directory (DIR/queue.json, locked while
    /// the service runs); a restart on it is a BITS service restart.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Seed of the run (job GUIDs, probabilistic faults).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start notification command lines as `PROGRAM [--launcher-arg
    /// ARG]... CMDPROGRAM PARAMETERS...` instead of `CMDPROGRAM
    /// PARAMETERS...` (needs --world http). For Windows programs under
    /// Wine: `--launcher /usr/lib/wine/wine64` with WINEPREFIX set, so a
    /// command line such as `C:\windows\System32\bitsadmin.exe /complete
    /// {GUID}` runs in the prefix. GetNotifyCmdLine still returns what the
    /// job's owner set; a launcher that cannot start is the command line's
    /// "failed to start".
    #[arg(long, value_name = "PROGRAM")]
    launcher: Option<PathBuf>,
    /// An argument of the launcher, before the command line's program
    /// (repeat for several).
    #[arg(
        long,
        value_name = "ARG",
        requires = "launcher",
        allow_hyphen_values = true
    )]
    launcher_arg: Vec<String>,
    /// Tell the launched command line which user it runs as: NAME=USER in
    /// its environment, USER being the job's owner (who set the command
    /// line; BITS starts it as that user). `bitsim-com.exe` and its
    /// `bitsadmin.exe` take their user from BITSIM_USER.
    #[arg(long, value_name = "NAME", requires = "launcher")]
    launcher_user_var: Option<String>,
}

/// Whether `world` goes with `clock` and `scenario`
/// ([`World::check_clock`]; the http world's is the real network, so it
/// takes no scenario). `bitsim service` and `bitsim wine run` both ask.
pub(crate) fn check_world(
    world: World,
    clock: Clock,
    scenario: Option<&Path>,
) -> Result<(), String> {
    world.check_clock(clock)?;
    match (world, scenario) {
        (World::Http, Some(p)) => Err(format!(
            "--world http takes no --scenario ({}): the world is the real network and its servers; drop --scenario, or use --world simulated",
            p.display()
        )),
        _ => Ok(()),
    }
}

/// Runs the service until stdin ends (`--stdio`), a `shutdown` call, or
/// SIGTERM/Ctrl-C; the queue is persisted (with `--state`) before it exits.
pub fn run(args: ServiceArgs) -> anyhow::Result<()> {
    // Usage errors (exit 2), as clap's own: the combination makes no sense.
    let usage = |msg: String| -> ! {
        clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, format!("{msg}\n")).exit()
    };
    if let (Some(l), World::Simulated) = (&args.launcher, args.world) {
        usage(format!(
            "--launcher {} needs --world http: the simulated world runs no process for a command line",
            l.display()
        ));
    }
    if let Err(e) = check_world(args.world, args.clock, args.scenario.as_deref()) {
        usage(e);
    }
    let scenario = match &args.scenario {
        Some(p) => bitsim::Scenario::load(p)?,
        None => Config::empty_world(),
    };
    let mut config = Config::new(scenario, args.seed)
        .with_clock(args.clock)
        .with_world(args.world);
    if let Some(dir) = &args.state {
        config = config.with_state_dir(dir);
    }
    if let Some(program) = &args.launcher {
        let launcher = args
            .launcher_arg
            .iter()
            .fold(Launcher::new(program), |l, a| l.arg(a));
        let launcher = match &args.launcher_user_var {
            Some(name) => launcher.user_var(name),
            None => launcher,
        };
        config = config.with_launcher(launcher);
    }
    match args.listen {
        Some(addr) => {
            let service = TcpService::bind(config, addr.as_str())
                .map_err(|e| anyhow::anyhow!("cannot serve on {addr}: {e}"))?;
            stop_on_signal(service.stopper());
            tracing::info!(
                "bitsim service listening on {} ({} clock, {} world)",
                service.local_addr(),
                args.clock,
                args.world
            );
            service.wait();
        }
        None => {
            let service = Service::try_start(config)?;
            stop_on_signal(service.stopper());
            service
                .connector()
                .connect_until_end(std::io::stdin(), std::io::stdout());
            service.wait();
        }
    }
    Ok(())
}

/// SIGTERM or Ctrl-C (SIGINT) stops the service cleanly.
fn stop_on_signal(stopper: Stopper) {
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!("cannot watch for signals: {e}");
                return;
            }
        };
        let signalled = rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = signal(SignalKind::terminate())?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r,
                    _ = term.recv() => Ok(()),
                }
            }
            #[cfg(not(unix))]
            {
                tokio::signal::ctrl_c().await
            }
        });
        match signalled {
            Ok(()) => {
                tracing::info!("signal received: stopping");
                stopper.stop();
            }
            Err(e) => tracing::warn!("cannot watch for signals: {e}"),
        }
    });
}
