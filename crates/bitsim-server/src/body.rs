//! Response bodies: empty, in-memory, and streamed from a file range with
//! optional throttling and a mid-body drop.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// The body type of every response.
pub type ResBody = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> ResBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body from bytes in memory.
pub fn full(b: impl Into<Bytes>) -> ResBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body fed by a channel (unknown size: hyper sends it chunked unless a
/// `Content-Length` header is set).
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// How to stream a file range.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOpts {
    /// Rate cap in bytes per second.
    pub bandwidth_bps: Option<u64>,
    /// Fail the body (dropping the connection) after this many bytes.
    pub drop_after_bytes: Option<u64>,
}

const CHUNK: usize = 64 * 1024;

/// One piece of a streamed response body.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Bytes held in memory (e.g. a multipart part header).
    Bytes(Bytes),
    /// `len` bytes of the file from `start`.
    File {
        /// First byte.
        start: u64,
        /// Number of bytes.
        len: u64,
    },
}

/// Streams `len` bytes of `path` from `start`. Memory use is one chunk.
pub fn file_body(path: PathBuf, start: u64, len: u64, opts: StreamOpts) -> ResBody {
    segments_body(path, vec![Segment::File { start, len }], opts)
}

/// Streams `segments` in order, file ranges read from `path` one chunk at
/// a time. Throttling and the mid-body drop count every body byte.
pub fn segments_body(path: PathBuf, segments: Vec<Segment>, opts: StreamOpts) -> ResBody {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::spawn(async move {
        let mut out = Sender { tx, opts, sent: 0 };
        let res = pump(&path, segments, &mut out).await;
        if let Err(e) = res {
            tracing::debug!(error = %e, "download body aborted");
            let _ = out.tx.send(Err(e)).await;
        }
    });
    ChannelBody { rx }.boxed()
}

/// The sending end of a streamed body with its fault options applied.
struct Sender {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    opts: StreamOpts,
    sent: u64,
}

/// What [`Sender::room`] allows next.
enum Room {
    /// Up to this many bytes.
    Bytes(usize),
    /// The client went away: stop quietly.
    Gone,
}

impl Sender {
    /// Largest piece to send next, at most `want` bytes: a chunk, cut at
    /// the throttle's tick and at the drop point. At the drop point it waits
    /// for hyper to flush what was sent, then fails the body.
    async fn room(&self, want: u64) -> std::io::Result<Room> {
        let chunk = match self.opts.bandwidth_bps {
            Some(bps) => (bps / 10).clamp(1, CHUNK as u64),
            None => CHUNK as u64,
        };
        let mut want = want.min(chunk);
        if let Some(limit) = self.opts.drop_after_bytes {
            let left = limit.saturating_sub(self.sent);
            if left == 0 {
                // Let hyper take and flush the last chunk first: if the
                // error were already queued it would drop the buffered
                // bytes together with the connection.
                while self.tx.capacity() < self.tx.max_capacity() {
                    if self.tx.is_closed() {
                        return Ok(Room::Gone);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(std::io::Error::other("fault: connection dropped mid-body"));
            }
            want = want.min(left);
        }
        Ok(Room::Bytes(usize::try_from(want).unwrap_or(CHUNK)))
    }

    /// Sends one piece; `false` if the client went away.
    async fn send(&mut self, b: Bytes) -> bool {
        let n = b.len() as u64;
        if self.tx.send(Ok(b)).await.is_err() {
            return false;
        }
        self.sent += n;
        if let Some(bps) = self.opts.bandwidth_bps {
            throttle(n, bps).await;
        }
        true
    }
}

async fn pump(path: &PathBuf, segments: Vec<Segment>, out: &mut Sender) -> std::io::Result<()> {
    let mut file: Option<tokio::fs::File> = None;
    for seg in segments {
        match seg {
            Segment::Bytes(mut b) => {
                while !b.is_empty() {
                    let n = match out.room(b.len() as u64).await? {
                        Room::Bytes(n) => n,
                        Room::Gone => return Ok(()),
                    };
                    if !out.send(b.split_to(n)).await {
                        return Ok(()); // client went away
                    }
                }
            }
            Segment::File { start, len } => {
                let f = match &mut file {
                    Some(f) => f,
                    None => file.insert(tokio::fs::File::open(path).await?),
                };
                f.seek(SeekFrom::Start(start)).await?;
                let mut remaining = len;
                while remaining > 0 {
                    let want = match out.room(remaining).await? {
                        Room::Bytes(n) => n,
                        Room::Gone => return Ok(()),
                    };
                    let mut buf = vec![0u8; want];
                    f.read_exact(&mut buf).await?;
                    remaining -= want as u64;
                    if !out.send(Bytes::from(buf)).await {
                        return Ok(()); // client went away
                    }
                }
            }
        }
    }
    Ok(())
}

/// Sleeps as long as sending `n` bytes takes at `bps` bytes per second.
pub async fn throttle(n: u64, bps: u64) {
    if bps == 0 {
        return;
    }
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(bps);
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    tokio::time::sleep(Duration::from_nanos(nanos)).await;
}
