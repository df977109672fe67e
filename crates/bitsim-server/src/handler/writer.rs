//! Streaming a fragment body to the session's data file.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// With `fsync`, writeback of a fragment's written bytes is started each
/// time this many have accumulated (see [`start_writeback`]). Measured on
/// the development VM with 8 MiB fragments: 256 KiB ≈ 870 MiB/s, 1 MiB ≈
/// 970 MiB/s, 4 MiB ≈ 800 MiB/s, never ≈ 730 MiB/s.
const WRITEBACK_EVERY: u64 = 1024 * 1024;

/// Permission to run one fragment's fdatasync on the async worker that
/// handles it instead of on the blocking pool; released on drop.
///
/// BITS allows one outstanding request per session (\[W32-UP\]:
/// the client sends the next fragment only after the Ack), so a fragment's
/// sync, its Ack and the next request are strictly serial. Handing the sync
/// to the blocking pool and back costs two cross-thread wake-ups per
/// fragment: on the development VM (2 vCPUs) the pool took 5–28 % longer
/// per 64 KiB fragment (`examples/config_ab.rs -- inline_sync`; README,
/// server benchmarks). `Config::inline_sync = false` turns this off.
///
/// Blocking a worker stalls the tasks queued behind it (a task in its
/// LIFO slot cannot even be stolen by another worker until the sync ends),
/// so the slot is bounded: one per process ([`SYNC_SLOT`], shared by every
/// server in it), and only on a multi-thread runtime with at least two
/// workers, so another worker always keeps serving. Concurrent fragments
/// find the slot taken and use the blocking pool as before, where their
/// syncs can run in parallel.
pub(super) struct SyncSlot<'a>(&'a AtomicBool);

/// The process's one [`SyncSlot`].
pub(super) static SYNC_SLOT: AtomicBool = AtomicBool::new(false);

impl<'a> SyncSlot<'a> {
    /// Takes the slot (`flag`) if it is free and the current runtime can
    /// spare a worker; `None` means "use the blocking pool".
    pub(super) fn take(flag: &'a AtomicBool) -> Option<Self> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread
            || rt.metrics().num_workers() < 2
        {
            return None;
        }
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(SyncSlot(flag))
    }
}

impl Drop for SyncSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

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

/// Writes batches of body frames at increasing offsets with at most one
/// batch in flight on the blocking pool, so reading the network and
/// writing the disk overlap. Frames are written as received (no copy).
pub(super) struct Writer {
    file: Arc<File>,
    offset: u64,
    /// Start writeback early (with `fsync`): see [`WRITEBACK_EVERY`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_slot_is_lent_once_and_only_by_a_multi_thread_runtime() {
        let flag = AtomicBool::new(false);
        // No runtime, or one that has no worker to spare: blocking pool.
        assert!(SyncSlot::take(&flag).is_none());
        let one = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        one.block_on(async { assert!(SyncSlot::take(&flag).is_none()) });
        let single = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        single.block_on(async { assert!(SyncSlot::take(&flag).is_none()) });
        assert!(!flag.load(Ordering::SeqCst));

        let two = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        two.block_on(async {
            let slot = SyncSlot::take(&flag).expect("free slot");
            // Taken: a concurrent fragment goes to the blocking pool.
            assert!(SyncSlot::take(&flag).is_none());
            drop(slot);
            // Released on drop, also when the sync failed or panicked.
            let r = std::panic::catch_unwind(|| {
                let _slot = SyncSlot::take(&flag).expect("free again");
                panic!("sync panicked");
            });
            assert!(r.is_err());
            assert!(SyncSlot::take(&flag).is_some());
        });
        assert!(!flag.load(Ordering::SeqCst));
    }
}
