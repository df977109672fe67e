//! `bitsim service`: the BITS API over JSON-RPC (crate `bitsim-service`).

use bitsim_service::{Config, TcpService};
use std::path::PathBuf;

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
    /// The simulated world: a scenario's servers, files, faults and policy.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Seed of the run (job GUIDs, probabilistic faults).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs the service until stdin ends (`--stdio`) or the process is stopped.
pub fn run(args: ServiceArgs) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(p) => bitsim::Scenario::load(p)?,
        None => Config::empty_world(),
    };
    let config = Config::new(scenario, args.seed);
    match args.listen {
        Some(addr) => {
            let service = TcpService::bind(config, addr.as_str())
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            tracing::info!(
                "bitsim service listening on {} (virtual clock)",
                service.local_addr()
            );
            service.wait();
        }
        None => bitsim_service::serve_stdio(config),
    }
    Ok(())
}
