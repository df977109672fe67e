//! Connections that keep a server's early answer.
//!
//! A server may answer a request before it has read the body: an upload
//! server refuses a Fragment (403, 416, 400, a fault) from its headers
//! alone and may then close the connection. If the client is still
//! sending the body at that moment, its next write fails (`EPIPE`,
//! `ECONNRESET`) although the answer is already in its receive buffer;
//! hyper then reports the failed write and the answer is lost, so a 403
//! reached the job as `WININET_E_CONNECTION_RESET` (transient) instead of
//! `BG_E_HTTP_ERROR_403` (fatal). RFC 9112 9.5 (Failures and Timeouts)
//! describes this case: a client sending a body should watch the
//! connection for an error response while it sends, and stop sending when
//! the server answers and closes.
//!
//! [`EarlyAnswer`] wraps any connector; its connections defer a failed
//! write: the write and every later one report success and drop the
//! bytes, so hyper finishes the request and reads what the server said.
//! If the server said nothing, the read ends the connection (end of file
//! or reset) and hyper reports that as before, so a real reset still
//! surfaces as one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// A connector whose connections keep the server's early answer (see the
/// module docs).
#[derive(Clone, Debug)]
pub(crate) struct EarlyAnswer<C>(pub(crate) C);

impl<C, T> tower_service::Service<Uri> for EarlyAnswer<C>
where
    C: tower_service::Service<Uri, Response = T>,
    C::Future: Unpin,
{
    type Response = KeepAnswer<T>;
    type Error = C::Error;
    type Future = Connecting<C::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        Connecting(self.0.call(dst))
    }
}

/// The future of [`EarlyAnswer`]'s connect.
pub(crate) struct Connecting<F>(F);

impl<F, T, E> Future for Connecting<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    type Output = Result<KeepAnswer<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(|io| KeepAnswer {
            io,
            write_failed: false,
        })
    }
}

/// A connection whose failed writes are deferred to its reads.
#[derive(Debug)]
pub(crate) struct KeepAnswer<T> {
    io: T,
    write_failed: bool,
}

/// The write errors of a peer that closed the connection.
fn peer_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

impl<T> KeepAnswer<T> {
    /// Turns a peer-closed write error into "written", once and for all.
    fn defer(&mut self, r: Poll<io::Result<usize>>, len: usize) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Err(e)) if peer_closed(&e) => {
                tracing::debug!(error = %e, "the server closed the connection mid-request; reading its answer");
                self.write_failed = true;
                Poll::Ready(Ok(len))
            }
            other => other,
        }
    }
}

impl<T: Read + Unpin> Read for KeepAnswer<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for KeepAnswer<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.write_failed {
            return Poll::Ready(Ok(buf.len()));
        }
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.defer(r, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        if self.write_failed {
            return Poll::Ready(Ok(len));
        }
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.defer(r, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_failed {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(Err(e)) if peer_closed(&e) => {
                self.write_failed = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_failed {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for KeepAnswer<T> {
    fn connected(&self) -> Connected {
        // A connection that lost its write side cannot carry another
        // request; hyper sees the end of its read side and drops it.
        self.io.connected()
    }
}
