//! `bitsim serve`: run the BITS upload/download server.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;

use anyhow::Context as _;
use bitsim_server::{Config, Server, TlsConfig};

/// Arguments of `bitsim serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, `HOST:PORT` with an IP address or a host
    /// name (`localhost:8080`; port 0 picks a free port). Default: the
    /// config file's `listen`, else 127.0.0.1:8080.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Directory that request paths map into.
    #[arg(long)]
    pub root: PathBuf,
    /// TOML configuration (limits, upload-reply routes, faults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate signed by a CA the server makes (and
    /// keeps under the state directory); prints the CA's path and SHA-256
    /// fingerprint for clients to trust. Enables the `tls_cert` faults.
    #[arg(long)]
    pub tls_self_signed: bool,
}

/// Resolves `--listen` (an IP address or a host name, with a port).
fn resolve_listen(text: &str) -> anyhow::Result<SocketAddr> {
    let mut addrs = text
        .to_socket_addrs()
        .with_context(|| format!("--listen {text:?}: expected HOST:PORT (e.g. localhost:8080)"))?;
    addrs
        .next()
        .with_context(|| format!("--listen {text:?}: the host name has no address"))
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display()))?,
        None => Config::default(),
    };
    // The command line wins over the file.
    if let Some(listen) = &args.listen {
        config.listen = resolve_listen(listen)?;
    }
    config.root = args.root;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(TlsConfig {
            cert: Some(cert),
            key: Some(key),
            ..TlsConfig::default()
        });
    } else if args.tls_self_signed {
        config.tls = Some(TlsConfig {
            self_signed: true,
            ..config
                .tls
                .take()
                .filter(|t| t.self_signed)
                .unwrap_or_default()
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        // Install the signal handlers before the address is announced, so a
        // SIGTERM sent as soon as the log line appears is never fatal.
        let shutdown = shutdown_signal()?;
        let server = Server::bind(config).await?;
        if let Some(ca) = server.self_signed_ca() {
            // Not a log line: what a user needs to connect a client.
            eprintln!(
                "TLS: self-signed; clients must trust the CA certificate {}\n\
                 TLS: CA SHA-256 fingerprint {}",
                ca.path.display(),
                ca.sha256
            );
        }
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
