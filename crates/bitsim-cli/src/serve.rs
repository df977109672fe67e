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
        let server = Server::bind(config).await.context("binding the server")?;
        server.run_until(shutdown_signal()).await?;
        tracing::info!("bitsim serve: stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
