//! `bitsim serve`: run the BITS upload/download server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use bitsim_server::{Config, Server};

/// Arguments of `bitsim serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port). Default: the
    /// config file's `listen`, else 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory that request paths map into.
    #[arg(long)]
    pub root: PathBuf,
    /// TOML configuration (limits, upload-reply routes, faults).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display()))?,
        None => Config::default(),
    };
    // The command line wins over the file.
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.root = args.root;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        // Install the signal handlers before the address is announced, so a
        // SIGTERM sent as soon as the log line appears is never fatal.
        let shutdown = shutdown_signal()?;
        let server = Server::bind(config).await.context("binding the server")?;
        server.run_until(shutdown).await?;
        tracing::info!("bitsim serve: stopped");
        Ok(())
    })
}

/// Registers SIGTERM and Ctrl-C (SIGINT) now; the returned future completes
/// on the first of them.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("Ctrl-C received"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received");
        } else {
            std::future::pending::<()>().await;
        }
    })
}
