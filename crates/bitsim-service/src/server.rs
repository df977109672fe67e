//! The transports: TCP (loopback) and stdio, one thread per connection
//! reading lines into the service loop.

use crate::Config;
use crate::core::{ConnId, Core, Inbound};
use crate::store::Store;
use crate::world::{HttpWorld, World};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A way into a running service: opens connections on it. Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    /// Shared, so that the http world's waker can hold it weakly: the loop
    /// still ends when every connection and handle is gone.
    tx: Arc<Sender<Inbound>>,
    next: Arc<AtomicU64>,
}

impl Connector {
    /// Serves one connection that reads requests from `reader` and writes
    /// answers and notifications to `writer`, one JSON-RPC message per line,
    /// until `reader` ends. Returns the connection's number.
    pub fn connect<R, W>(&self, reader: R, writer: W) -> u64
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        self.connect_inner(reader, writer, false)
    }

    /// The same, and the service stops when `reader` ends (the one client
    /// of `--stdio`).
    pub fn connect_until_end<R, W>(&self, reader: R, writer: W) -> u64
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        self.connect_inner(reader, writer, true)
    }

    /// The same; with `stop_at_end`, the service stops when `reader` ends.
    fn connect_inner<R, W>(&self, reader: R, writer: W, stop_at_end: bool) -> u64
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let id: ConnId = self.next.fetch_add(1, Ordering::Relaxed);
        // Opened goes first: the loop knows the writer before any line.
        let _ = self.tx.send(Inbound::Opened(id, Box::new(writer)));
        let tx = Arc::clone(&self.tx);
        thread::spawn(move || {
            let mut r = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']);
                        if line.trim().is_empty() {
                            continue;
                        }
                        if tx.send(Inbound::Line(id, line.to_owned())).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Inbound::Closed(id));
            if stop_at_end {
                let _ = tx.send(Inbound::Stop);
            }
        });
        id
    }
}

/// Stops a running service from anywhere (a signal handler, another
/// thread): the loop finishes the message at hand, persists the queue
/// (with a state directory) and ends. Cheap to clone.
#[derive(Clone)]
pub struct Stopper {
    tx: Arc<Sender<Inbound>>,
}

impl Stopper {
    /// Asks the service to stop; [`Service::wait`] or [`TcpService::wait`]
    /// then returns. Stopping a service that has stopped does nothing.
    pub fn stop(&self) {
        let _ = self.tx.send(Inbound::Stop);
    }
}

/// A running service: the loop thread that owns the simulated world.
pub struct Service {
    connector: Connector,
    core: JoinHandle<()>,
}

impl Service {
    /// Starts the service loop on `config`'s world.
    ///
    /// # Panics
    ///
    /// If `config.state_dir` is set and cannot be locked or read; use
    /// [`Service::try_start`] to get that as an error.
    pub fn start(config: Config) -> Service {
        Service::try_start(config).unwrap_or_else(|e| panic!("bitsim service: {e}"))
    }

    /// Starts the service loop on `config`'s world; with a state
    /// directory, locks it and takes over the queue it holds (a BITS
    /// service restart, X2). Fails, naming the directory, if another live
    /// process holds it or its queue cannot be read.
    pub fn try_start(config: Config) -> io::Result<Service> {
        config
            .world
            .check_clock(config.clock)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (tx, rx) = channel();
        let tx = Arc::new(tx);
        let (store, loaded, http) = match config.world {
            World::Simulated => match &config.state_dir {
                Some(dir) => {
                    let (store, loaded) = Store::open(dir)?;
                    (Some(store), loaded, None)
                }
                None => (None, None, None),
            },
            World::Http => {
                // The driver persists the queue itself (DIR/queue.json,
                // under the same lock).
                let h = HttpWorld::open(
                    config.state_dir.as_deref(),
                    config.scenario.policy.clone(),
                    config.launcher.clone(),
                    Arc::downgrade(&tx),
                )?;
                (None, None, Some(h))
            }
        };
        // The simulation is built on the loop's thread (callback objects
        // are not `Send`).
        let core = thread::spawn(move || Core::new(config, rx, store, loaded, http).run());
        Ok(Service {
            connector: Connector {
                tx,
                next: Arc::new(AtomicU64::new(1)),
            },
            core,
        })
    }

    /// Opens connections on this service.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// A way to stop this service.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            tx: Arc::clone(&self.connector.tx),
        }
    }

    /// Waits until the service stops: a [`Stopper`] or a `shutdown` call
    /// stopped it, or every connection has closed and no [`Connector`] or
    /// [`Stopper`] is left.
    pub fn wait(self) {
        drop(self.connector);
        let _ = self.core.join();
    }
}

/// Serves one client on stdin/stdout until stdin ends or the service is
/// stopped (the process's own streams: logs must go to stderr). Fails if
/// the state directory cannot be locked or read.
pub fn serve_stdio(config: Config) -> io::Result<()> {
    let service = Service::try_start(config)?;
    service
        .connector()
        .connect_until_end(io::stdin(), io::stdout());
    service.wait();
    Ok(())
}

/// A service listening on TCP.
pub struct TcpService {
    addr: SocketAddr,
    service: Service,
}

impl TcpService {
    /// Binds `addr` (use `127.0.0.1:0` for any free port) and accepts
    /// connections on a background thread.
    pub fn bind(config: Config, addr: impl ToSocketAddrs) -> io::Result<TcpService> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let service = Service::try_start(config)?;
        let connector = service.connector();
        thread::spawn(move || {
            for stream in listener.incoming() {
                match stream.and_then(|s| split(&s).map(|w| (s, w))) {
                    Ok((r, w)) => {
                        connector.connect(r, w);
                    }
                    Err(e) => tracing::warn!("accept failed: {e}"),
                }
            }
        });
        Ok(TcpService { addr, service })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A way to stop this service (e.g. from a signal handler).
    pub fn stopper(&self) -> Stopper {
        self.service.stopper()
    }

    /// Serves until the service is stopped ([`TcpService::stopper`], a
    /// `shutdown` call). The listening socket stays open until the process
    /// ends, but nothing is served on it any more.
    pub fn wait(self) {
        self.service.wait();
    }

    /// Stops the service and waits until it has (the queue persisted).
    pub fn stop(self) {
        self.service.stopper().stop();
        self.service.wait();
    }
}

/// The writing half of `s`. A client that stops reading cannot block the
/// service forever: a write that waits longer than this fails.
fn split(s: &TcpStream) -> io::Result<TcpStream> {
    s.set_nodelay(true)?;
    let w = s.try_clone()?;
    w.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(w)
}
