//! Streaming a fragment body to the session's data file.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::blocking;
use crate::body;
use crate::faults::Effects;
use crate::server::Ctx;
use crate::session::{SessionState, write_at};

/// Size of the write batches of a fragment body.
const WRITE_BATCH: usize = 256 * 1024;

/// With `durability = "power-cut"`, writeback of a fragment's written bytes is started each
/// time this many have accumulated (see [`start_writeback`]). Measured on
/// the development VM with 8 MiB fragments: 256 KiB ≈ 870 MiB/s, 1 MiB ≈
/// 970 MiB/s, 4 MiB ≈ 800 MiB/s, never ≈ 730 MiB/s.
const WRITEBACK_EVERY: u64 = 1024 * 1024;

/// The session's data and progress files, opened once per session.
pub(super) async fn open_files(
    ctx: &Arc<Ctx>,
    key: &str,
    st: &mut SessionState,
) -> std::io::Result<(Arc<File>, Arc<File>)> {
    if let (Some(f), Some(p)) = (&st.file, &st.progress) {
        return Ok((f.clone(), p.clone()));
    }
    let (data, prog) = (ctx.sessions.data_path(key), ctx.sessions.progress_path(key));
    let (f, p) = blocking(move || {
        let open = |p: PathBuf| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
        };
        Ok((open(data)?, open(prog)?))
    })
    .await?;
    let (f, p) = (Arc::new(f), Arc::new(p));
    st.file = Some(f.clone());
    st.progress = Some(p.clone());
    Ok((f, p))
}

pub(super) enum StreamError {
    Io(std::io::Error),
    Dropped(String),
}

/// Writes batches of body frames at increasing offsets. With power-cut
/// durability at most one batch is in flight on the blocking pool, so
/// reading the network and writing (and starting writeback of) the disk
/// overlap; without it a batch is written on the worker at once (a
/// page-cache copy: the pool's thread hand-offs cost more, most of all on
/// a busy machine). Frames are written as received (no copy).
pub(super) struct Writer {
    file: Arc<File>,
    offset: u64,
    /// Start writeback early (with power-cut durability): see [`WRITEBACK_EVERY`].
    writeback: bool,
    /// Start of the written bytes whose writeback has not been started.
    unflushed_from: u64,
    inflight: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Writer {
    /// Writes to `file` from `offset` on; `writeback` as [`Writer::writeback`].
    pub(super) fn new(file: Arc<File>, offset: u64, writeback: bool) -> Self {
        Writer {
            file,
            offset,
            writeback,
            unflushed_from: offset,
            inflight: None,
        }
    }

    async fn wait(&mut self) -> std::io::Result<()> {
        match self.inflight.take() {
            Some(h) => h.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    async fn push(&mut self, batch: Vec<Bytes>) -> std::io::Result<()> {
        self.wait().await?;
        let len: u64 = batch.iter().map(|b| b.len() as u64).sum();
        if len == 0 {
            return Ok(());
        }
        let (f, mut off) = (self.file.clone(), self.offset);
        self.offset += len;
        if !self.writeback {
            // Without syncs a batch is a page-cache copy of at most
            // WRITE_BATCH bytes: cheaper on this worker than the two
            // thread hand-offs of the blocking pool.
            for b in &batch {
                write_at(&f, b, off)?;
                off += b.len() as u64;
            }
            return Ok(());
        }
        let flush = (self.writeback && self.offset - self.unflushed_from >= WRITEBACK_EVERY)
            .then(|| (self.unflushed_from, self.offset - self.unflushed_from));
        if flush.is_some() {
            self.unflushed_from = self.offset;
        }
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            for b in &batch {
                write_at(&f, b, off)?;
                off += b.len() as u64;
            }
            if let Some((start, n)) = flush {
                start_writeback(&f, start, n);
            }
            Ok(())
        }));
        Ok(())
    }
}

/// Asks the kernel to start writing `len` bytes at `off` to the disk now,
/// without waiting for it (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`;
/// man 2 sync_file_range). The fdatasync before the Ack then finds most of
/// a large fragment already on its way to the disk instead of flushing all
/// of it after the last byte arrived: disk and network overlap. It changes
/// no durability guarantee (the fdatasync still decides), so it is a hint
/// only: errors are ignored (the fdatasync reports real ones), and on
/// other systems it does nothing.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn start_writeback(f: &File, off: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (i64::try_from(off), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the fd is
    // open for the duration of the call because `f` is borrowed.
    let _ = unsafe { libc::sync_file_range(f.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File, _off: u64, _len: u64) {}

/// Streams a fragment body to the data file with positional writes in
/// batches of [`WRITE_BATCH`] bytes: memory stays flat in the upload size.
/// Returns the offset after the written batches and the last, unwritten
/// batch (at most [`WRITE_BATCH`] bytes).
/// Every exit path waits for the in-flight write, so no stale write can
/// land after the session lock is released; only a request dropped while
/// a batch is in flight (the client went away) can leave one running, and
/// it writes the bytes a resend carries at the offsets it writes them to,
/// never the progress slot.
pub(super) async fn stream_to_file(
    ctx: &Arc<Ctx>,
    body: Incoming,
    mut w: Writer,
    skip: u64,
    expect_len: u64,
    fx: &Effects,
    seen_now: &AtomicU64,
) -> Result<(u64, Vec<Bytes>), StreamError> {
    let r = stream_batches(ctx, body, &mut w, skip, expect_len, fx, seen_now).await;
    let done = w.wait().await;
    let last = r?;
    done.map_err(StreamError::Io)?;
    Ok((w.offset, last))
}

async fn stream_batches(
    ctx: &Arc<Ctx>,
    mut body: Incoming,
    w: &mut Writer,
    mut skip: u64,
    expect_len: u64,
    fx: &Effects,
    seen_now: &AtomicU64,
) -> Result<Vec<Bytes>, StreamError> {
    let idle = Duration::from_secs(ctx.cfg.body_idle_timeout_secs.max(1));
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut seen: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(StreamError::Dropped("request body stalled".into())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(StreamError::Dropped(format!("body error: {e}"))),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if let Some(limit) = fx.drop_after_bytes {
            let left = limit.saturating_sub(seen);
            if (data.len() as u64) >= left {
                data.truncate(usize::try_from(left).unwrap_or(0));
                // Write what arrived (as a real drop would) and then drop.
                batch.push(skip_prefix(data, &mut skip));
                w.push(batch).await.map_err(StreamError::Io)?;
                return Err(StreamError::Dropped(
                    "fault: connection dropped mid-body".into(),
                ));
            }
        }
        seen += data.len() as u64;
        seen_now.store(seen, Ordering::Relaxed);
        if let Some(bps) = fx.bandwidth_bps {
            body::throttle(data.len() as u64, bps).await;
        }
        let data = skip_prefix(data, &mut skip);
        batch_len += data.len();
        batch.push(data);
        if batch_len >= WRITE_BATCH {
            w.push(std::mem::take(&mut batch))
                .await
                .map_err(StreamError::Io)?;
            batch_len = 0;
        }
    }
    if seen != expect_len {
        return Err(StreamError::Dropped(format!(
            "body ended after {seen} of {expect_len} bytes"
        )));
    }
    // The caller writes the last batch together with the progress record.
    Ok(batch)
}

/// Sets a counter to 0 when dropped.
pub(super) struct ZeroOnDrop<'a>(pub(super) &'a AtomicU64);

impl Drop for ZeroOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

fn skip_prefix(mut data: Bytes, skip: &mut u64) -> Bytes {
    if *skip == 0 {
        return data;
    }
    let n = usize::try_from((*skip).min(data.len() as u64)).unwrap_or(data.len());
    *skip -= n as u64;
    data.split_off(n)
}

/// Reads and discards what is left of `body`, at most `limit` bytes, each
/// frame within `idle_secs`; whether the body ended within those bounds.
pub(super) async fn discard(mut body: Incoming, limit: u64, idle_secs: u64) -> bool {
    let idle = Duration::from_secs(idle_secs.max(1));
    let mut seen = 0u64;
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(f))) => {
                seen += f.data_ref().map_or(0, |d| d.len() as u64);
                if seen > limit {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

pub(super) async fn drain(mut body: Incoming, idle_secs: u64) -> Result<(), ()> {
    let idle = Duration::from_secs(idle_secs.max(1));
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(_))) => {}
            _ => return Err(()),
        }
    }
}
