//! Binding, the accept loop, graceful shutdown and the expiry sweeper.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::body::ResBody;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::faults::FaultSet;
use crate::session::{SessionStore, now_unix_ms};

/// Shared state of a running server.
pub(crate) struct Ctx {
    pub(crate) cfg: Config,
    /// Canonical root directory.
    pub(crate) root: PathBuf,
    /// Canonical state directory (never served, never uploaded to).
    pub(crate) state_dir: PathBuf,
    /// Directory of reply files.
    pub(crate) replies_dir: PathBuf,
    pub(crate) sessions: SessionStore,
    pub(crate) faults: Arc<FaultSet>,
    /// Whether fault rules may present faulty certificates (TLS with a
    /// self-signed CA).
    pub(crate) tls_faults: bool,
    /// Group commit of fragment data (`durability = "power-cut"`).
    pub(crate) group_sync: Arc<crate::handler::GroupSync>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        ResBody,
    >,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("root", &self.root)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    ctx: Arc<Ctx>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ca: Option<crate::tls::SelfSignedCa>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("ctx", &self.ctx)
            .field("tls", &self.tls.is_some())
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// The error returned by the service to make hyper drop the connection
/// (fault injection, client gone mid-body).
#[derive(Debug)]
pub(crate) struct DropConnection(pub(crate) String);

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection dropped: {}", self.0)
    }
}

impl std::error::Error for DropConnection {}

impl Server {
    /// Binds the listening socket first (so a busy port is reported before
    /// anything else happens), then prepares the root and state
    /// directories, loads persisted sessions and, with [`Config::tls`],
    /// the certificates.
    pub async fn bind(config: Config) -> Result<Server> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|error| Error::Bind {
                addr: config.listen,
                error,
            })?;
        let local_addr = listener.local_addr()?;
        let root = config
            .root
            .canonicalize()
            .map_err(|e| Error::Config(format!("root {}: {e}", config.root.display())))?;
        if !root.is_dir() {
            return Err(Error::Config(format!(
                "root {} is not a directory",
                root.display()
            )));
        }
        let state_dir = config
            .state_dir
            .clone()
            .unwrap_or_else(|| root.join(".bitsim"));
        std::fs::create_dir_all(&state_dir)?;
        let state_dir = state_dir.canonicalize()?;
        let replies_dir = state_dir.join("replies");
        std::fs::create_dir_all(&replies_dir)?;
        let faults = Arc::new(FaultSet::default());
        let (tls, ca) = match &config.tls {
            Some(t) => {
                let built = crate::tls::build(t, &state_dir, faults.clone())?;
                (Some(built.acceptor), built.ca)
            }
            None => (None, None),
        };
        for f in &config.faults {
            // Config::validate (above) has checked every rule.
            faults.add(f.clone())?;
        }
        let sessions = SessionStore::open(state_dir.join("sessions"), config.durability.syncs())?;
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %local_addr, root = %root.display(), "bitsim-server listening on {scheme}://{local_addr}");
        if let Some(ca) = &ca {
            tracing::info!(ca = %ca.path.display(), sha256 = %ca.sha256, "TLS with a self-signed CA");
        }
        Ok(Server {
            listener,
            ctx: Arc::new(Ctx {
                cfg: config,
                root,
                state_dir,
                replies_dir,
                sessions,
                tls_faults: ca.is_some(),
                faults,
                group_sync: Arc::default(),
                local_addr,
                client,
            }),
            tls,
            ca,
        })
    }

    /// With a self-signed certificate ([`TlsConfig::self_signed`](crate::TlsConfig)):
    /// the CA clients must trust.
    pub fn self_signed_ca(&self) -> Option<&crate::tls::SelfSignedCa> {
        self.ca.as_ref()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.ctx.local_addr
    }

    /// The live fault rules (also reachable over `/_bitsim/faults`).
    pub fn faults(&self) -> &FaultSet {
        &self.ctx.faults
    }

    /// Serves until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish (at most 5 s) and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server {
            listener, ctx, tls, ..
        } = self;
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        // Sessions that expired while the server was down go before the
        // first request is served; the periodic sweeper starts one interval
        // later (an immediate first tick would race the first requests).
        let expired_at_start = sweep(&ctx).await;
        if expired_at_start > 0 {
            tracing::info!(
                expired = expired_at_start,
                "expired sessions removed at start-up"
            );
        }
        let sweeper = tokio::spawn(sweep_loop(ctx.clone()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let (stream, peer) = match r {
                        Ok(x) => x,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let ctx = ctx.clone();
                    let watcher = graceful.watcher();
                    match tls.clone() {
                        None => {
                            tokio::spawn(serve_connection(ctx, stream, peer, watcher));
                        }
                        Some(acceptor) => {
                            tokio::spawn(async move {
                                // A handshake that stalls or fails ends
                                // the connection; the client sees why.
                                let hs = tokio::time::timeout(
                                    Duration::from_secs(30),
                                    acceptor.accept(stream),
                                );
                                match hs.await {
                                    Ok(Ok(s)) => serve_connection(ctx, s, peer, watcher).await,
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    }
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                _ = &mut shutdown => break,
            }
        }
        drop(listener);
        sweeper.abort();
        tracing::info!("shutting down");
        if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 5 s; closing them");
        }
        Ok(())
    }

    /// Runs the server on a background task.
    pub fn spawn(self) -> ServerHandle {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ctx = self.ctx.clone();
        let join = tokio::spawn(self.run_until(async move {
            let _ = rx.await;
        }));
        ServerHandle {
            ctx,
            shutdown: Some(tx),
            join,
        }
    }
}

/// Serves HTTP/1.1 on one accepted connection (plain or TLS).
async fn serve_connection<S>(
    ctx: Arc<Ctx>,
    stream: S,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let repoll = ctx.cfg.repoll;
    let svc = service_fn(move |req| {
        let ctx = ctx.clone();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            %peer,
        );
        async move { crate::handler::handle(ctx, req, peer).await }.instrument(span)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), svc);
    let fut = watcher.watch(conn);
    // See `Config::repoll` and `repoll.rs`.
    let r = if repoll {
        crate::repoll::Repoll::new(fut).await
    } else {
        fut.await
    };
    if let Err(e) = r {
        tracing::debug!(error = %e, %peer, "connection ended with error");
    }
}

/// A server running on a background task.
#[derive(Debug)]
pub struct ServerHandle {
    ctx: Arc<Ctx>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.ctx.local_addr
    }

    /// The live fault rules.
    pub fn faults(&self) -> &FaultSet {
        &self.ctx.faults
    }

    /// Runs the expiry sweep now; returns how many sessions expired.
    pub async fn sweep_expired(&self) -> usize {
        sweep(&self.ctx).await
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.join).await {
            Ok(r) => r,
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        }
    }
}

async fn sweep_loop(ctx: Arc<Ctx>) {
    let every = Duration::from_secs(ctx.cfg.sweep_interval_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let n = sweep(&ctx).await;
        if n > 0 {
            tracing::info!(expired = n, "session sweeper removed sessions");
        }
    }
}

/// Whether a session last active at `last_ms` has expired.
// [MC-BUP] 3.2.6.1; [W32-IISPROPS] BITSSessionTimeout: no successful
// message for the timeout → the server deletes everything.
pub(crate) fn expired(ctx: &Ctx, last_ms: u64) -> bool {
    last_ms < live_after_ms(ctx)
}

/// The instant (Unix milliseconds) before which a session's last activity
/// means it has expired.
pub(crate) fn live_after_ms(ctx: &Ctx) -> u64 {
    now_unix_ms().saturating_sub(ctx.cfg.session_timeout_secs.saturating_mul(1000))
}

async fn sweep(ctx: &Arc<Ctx>) -> usize {
    let mut n = 0;
    for s in ctx.sessions.all() {
        // A session busy with a request is alive by definition.
        let Ok(mut st) = s.state.try_lock() else {
            continue;
        };
        if st.gone || !expired(ctx, st.rec.last_activity_unix_ms) {
            continue;
        }
        st.gone = true;
        let reply = st.rec.reply.as_ref().and_then(|r| r.file.clone());
        let key = s.key.clone();
        let c = ctx.clone();
        let _ =
            tokio::task::spawn_blocking(move || c.sessions.remove(&key, reply.as_deref())).await;
        tracing::info!(session = %st.rec.id, "session expired");
        n += 1;
    }
    n
}
