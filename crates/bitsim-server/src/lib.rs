//! `bitsim-server`: a real BITS Upload Protocol (\[MC-BUP\]) and
//! range-download HTTP server, with fault injection, for testing BITS
//! clients (Windows `bitsadmin`, PowerShell, COM, bitsim's own transport)
//! on any OS.
//!
//! * `BITS_POST` (or `POST` + `X-Http-Method-Override: BITS_POST`) with
//!   the packets Ping, Create-Session, Fragment, Close-Session and
//!   Cancel-Session; sessions are server-wide and persisted, so a dropped
//!   connection or a `kill -9` + restart resumes every session.
//! * Fragments stream to disk with positional writes; overlaps write only
//!   the new tail; gaps get 416 with `BITS-Received-Content-Range`.
//! * Close-Session publishes atomically under the root; upload-reply runs a
//!   built-in or external server application.
//! * `GET`/`HEAD` serve files under the root with single-range support.
//! * HTTPS with rustls ([`TlsConfig`]): a certificate from PEM files, or
//!   one signed by a CA the server makes, which also lets fault rules
//!   present expired or wrong-host certificates ([`TlsCertFault`]).
//! * Connections stay alive through refusals: an unread request body is
//!   read and discarded (bounded), or the answer says `Connection: close`.
//! * [`Durability`]: acknowledged bytes survive a process kill by default,
//!   a power cut with `durability = "power-cut"` (group-committed syncs).
//! * Faults (status codes, delays, bandwidth caps, dropped connections,
//!   ignored ranges, missing `Content-Length`, changing `Last-Modified`,
//!   full disk) come from [`Config::faults`] or the control API at
//!   `/_bitsim/faults`.
//!
//! # Example
//!
//! ```
//! use bitsim_server::{Config, Server};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! // Port 0: the OS picks a free port.
//! let server = Server::bind(Config::new(root.path())).await?;
//! let addr = server.local_addr();
//! let handle = server.spawn();
//!
//! let mut tcp = tokio::net::TcpStream::connect(addr).await?;
//! tcp.write_all(
//!     b"BITS_POST /up.bin HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Ping\r\n\
//!       Content-Length: 0\r\nConnection: close\r\n\r\n",
//! )
//! .await?;
//! let mut resp = String::new();
//! tcp.read_to_string(&mut resp).await?;
//! assert!(resp.starts_with("HTTP/1.1 200"));
//! assert!(resp.to_ascii_lowercase().contains("bits-packet-type: ack"));
//!
//! handle.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod body;
pub mod config;
pub mod error;
pub mod faults;
mod handler;
pub mod parse;
pub mod paths;
mod reply;
mod repoll;
mod server;
pub mod session;
mod tls;

pub use config::{Config, ControlConfig, Durability, NotifyBy, ReplyApp, ReplyRoute, TlsConfig};
pub use error::{Error, Result};
pub use faults::{FaultRule, FaultSet, TlsCertFault};
pub use handler::{CONTROL_PREFIX, REASON_HEADER};
pub use server::{Server, ServerHandle};
pub use tls::SelfSignedCa;
