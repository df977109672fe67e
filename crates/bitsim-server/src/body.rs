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

/// Streams `len` bytes of `path` from `start`. Memory use is one chunk.
pub fn file_body(path: PathBuf, start: u64, len: u64, opts: StreamOpts) -> ResBody {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::spawn(async move {
        let res: std::io::Result<()> = async {
            let mut f = tokio::fs::File::open(&path).await?;
            f.seek(SeekFrom::Start(start)).await?;
            let mut remaining = len;
            let mut sent: u64 = 0;
            let chunk = match opts.bandwidth_bps {
                Some(bps) => usize::try_from((bps / 10).clamp(1, CHUNK as u64)).unwrap_or(CHUNK),
                None => CHUNK,
            };
            while remaining > 0 {
                let mut want = usize::try_from(remaining.min(chunk as u64)).unwrap_or(chunk);
                if let Some(limit) = opts.drop_after_bytes {
                    let left = limit.saturating_sub(sent);
                    if left == 0 {
                        // Let hyper take and flush the last chunk first: if the
                        // error were already queued it would drop the buffered
                        // bytes together with the connection.
                        while tx.capacity() < tx.max_capacity() {
                            if tx.is_closed() {
                                return Ok(());
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return Err(std::io::Error::other("fault: connection dropped mid-body"));
                    }
                    want = want.min(usize::try_from(left).unwrap_or(want));
                }
                let mut buf = vec![0u8; want];
                f.read_exact(&mut buf).await?;
                remaining -= want as u64;
                sent += want as u64;
                if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                    return Ok(()); // client went away
                }
                if let Some(bps) = opts.bandwidth_bps {
                    throttle(want as u64, bps).await;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            tracing::debug!(error = %e, "download body aborted");
            let _ = tx.send(Err(e)).await;
        }
    });
    ChannelBody { rx }.boxed()
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
