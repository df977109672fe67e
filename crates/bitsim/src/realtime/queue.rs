//! The persisted queue as a file other processes may look at: reading it
//! without opening it ([`read_queue`]) and the lock that keeps two
//! processes from driving it at once ([`QueueLock`]).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use bitsim_model::Manager;

use super::StateFile;

/// A persisted queue as read from its state file, without opening it
/// (no service restart, nothing written).
#[derive(Debug, Clone)]
pub struct QueueSnapshot {
    /// The model as it was last persisted.
    pub manager: Manager,
    /// Unix time (ms) of the queue's time zero: a [`bitsim_model::Time`]
    /// `t` of this queue is the wall-clock instant `epoch_unix_ms + t`.
    pub epoch_unix_ms: u64,
}

/// Reads the state file at `path` without locking or changing it.
pub fn read_queue(path: &Path) -> std::io::Result<QueueSnapshot> {
    let text = std::fs::read(path)?;
    let s: StateFile = serde_json::from_slice(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a bitsim queue: {e}", path.display()),
        )
    })?;
    Ok(QueueSnapshot {
        manager: s.manager,
        epoch_unix_ms: s.epoch_unix_ms,
    })
}

/// Replaces the file at `path` with `bytes` so that a reader (or a crash)
/// sees the old file or the new one, never a part: a temporary file beside
/// it, synced, renamed over it, and the folder synced. Every writer of a
/// queue file uses it (the driver, `bitsim service --state`).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.flush()?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The lock file of the state file `state`: `<state>.lock` beside it.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The exclusive lock on a persisted queue, held while the value lives.
///
/// # One process drives a queue at a time
///
/// BITS has one service per machine, so its queue has one writer. A
/// persisted queue of bitsim (`bitsim download --state FILE`, a service's
/// `--state DIR`) can be opened by several processes, and two writers would
/// each persist their own copy of the model and lose the other's changes
/// (a cancel undone by the next progress write). So every [`Driver`] that
/// has a state file holds an exclusive lock on `<state>.lock` (the state
/// file's name plus `.lock`, beside it) for as long as it lives, and
/// [`Driver::open`] fails with [`std::io::ErrorKind::ResourceBusy`] and
/// the message "the queue FILE is in use by process N" while another holds
/// it. The lock file holds the holder's process id, for that message.
///
/// Decisions, with their reasons:
/// * The lock is the operating system's advisory lock on an open file
///   (`flock` on Unix), not the lock file's existence: it goes away with
///   the process, so a crashed or killed driver (kill -9, a power cut)
///   leaves no stale lock to clean up by hand.
/// * The lock file is never deleted: deleting it while another process
///   waits on the same name would let two processes lock two different
///   files. An unlocked `.lock` file left behind means nothing.
/// * Reading does not lock ([`read_queue`]): the state file is only ever
///   replaced whole (written to a temporary file, synced, renamed), so a
///   reader sees one complete version, possibly a moment old.
/// * On platforms other than Unix the lock file is written but not
///   enforced (no safe advisory lock under the crate's minimum Rust
///   version there).
///
/// [`Driver`]: super::Driver
/// [`Driver::open`]: super::Driver::open
#[derive(Debug)]
pub struct QueueLock {
    /// The open, locked lock file; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl QueueLock {
    /// Takes the lock of the state file `state`, or fails with
    /// [`std::io::ErrorKind::ResourceBusy`] naming the process that holds it.
    pub fn acquire(state: &Path) -> std::io::Result<QueueLock> {
        let path = lock_path(state);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
            })?;
        if !try_lock(&file)? {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("process {holder}")
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::ResourceBusy,
                format!("the queue {} is in use by {who}", state.display()),
            ));
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(QueueLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_first_drop_releases_it() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("q.json");
        let first = QueueLock::acquire(&state).unwrap();
        assert_eq!(first.path(), d.path().join("q.json.lock"));
        let e = QueueLock::acquire(&state).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ResourceBusy);
        assert_eq!(
            e.to_string(),
            format!(
                "the queue {} is in use by process {}",
                state.display(),
                std::process::id()
            )
        );
        drop(first);
        let again = QueueLock::acquire(&state).unwrap();
        drop(again);
        assert!(lock_path(&state).exists(), "the lock file stays");
    }

    fn cfg(state: &Path) -> super::super::RtConfig {
        super::super::RtConfig {
            state_file: Some(state.to_path_buf()),
            ..Default::default()
        }
    }

    /// A driver holds its queue's lock for as long as it lives: a second
    /// driver on the same state file is refused, and can open it once the
    /// first shut down.
    #[tokio::test]
    async fn a_second_driver_on_the_same_queue_is_refused() {
        use super::super::Driver;
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("q.json");
        let first = Driver::open(cfg(&state)).unwrap();
        let e = Driver::open(cfg(&state)).err().expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::ResourceBusy, "{e}");
        assert!(e.to_string().contains("is in use by process"), "{e}");
        first.shutdown();
        Driver::open(cfg(&state)).unwrap().shutdown();
    }

    /// A held driver makes calls and persists them, but starts no
    /// transfer: a resumed job stays CONNECTING (a started transfer to a
    /// port nothing listens on would fail within the wait), no temporary
    /// file appears, and the persisted queue reads back the same.
    #[tokio::test]
    async fn a_held_driver_persists_calls_and_starts_no_transfer() {
        use super::super::Driver;
        use bitsim_model::{Caller, JobState};
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("q.json");
        let me = Caller::user("me");
        let dest = d.path().join("a.bin");
        let mut drv = Driver::open_held(cfg(&state)).unwrap();
        let job = drv
            .download(&me, "http://127.0.0.1:1/a.bin", &dest)
            .unwrap();
        drv.call(|m, now| m.resume(now, &me, job)).unwrap();
        drv.run_until(std::time::Duration::from_millis(700), |_| false)
            .await;
        assert_eq!(drv.manager().job(job).unwrap().state, JobState::Connecting);
        drv.shutdown();
        let entries: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.iter().all(|n| !n.ends_with(".tmp")),
            "no temporary file: {entries:?}"
        );
        let q = read_queue(&state).unwrap();
        assert_eq!(q.manager.job(job).unwrap().state, JobState::Connecting);
        assert_eq!(q.manager.job(job).unwrap().error_count, 0);
    }
}
