//! `--state DIR`: the persisted queue and the directory's lock.
//!
//! `DIR/queue.json` has the format of the real-time driver's state file
//! (`epoch_unix_ms`, `manager`, `books`), so one reader handles the queue
//! of `bitsim download/upload --state` and of the service; the service adds
//! `service` beside them (the virtual clock, the number of starts). It is
//! written atomically (a temporary file, fsync, rename) after every batch
//! of calls and events that changed it. While the service runs it holds the
//! queue's lock, [`bitsim::realtime::QueueLock`] (`DIR/queue.json.lock`),
//! the same lock `bitsim download --state` and the changing verbs of
//! `bitsim jobs --state` take, so no two processes drive the queue at once.

use bitsim::realtime::{QueueLock, write_atomically};
use bitsim_model::{JobId, Manager, Time};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The state file's name inside the state directory.
pub(crate) const QUEUE_FILE: &str = "queue.json";

/// The service's part of the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceBook {
    /// Virtual time when the file was written (ms).
    pub(crate) virtual_now_ms: u64,
    /// The clock mode it was written under.
    pub(crate) clock: String,
    /// How many times a process has started on this directory.
    pub(crate) starts: u64,
}

impl ServiceBook {
    /// The book of a queue last written by another program (the real-time
    /// driver of `bitsim jobs --state`): its clock is the model's.
    fn of(manager: &Manager) -> ServiceBook {
        ServiceBook {
            virtual_now_ms: manager.now().as_millis(),
            clock: "real".into(),
            starts: 0,
        }
    }
}

/// The whole file.
#[derive(Serialize, Deserialize)]
struct StateFile {
    /// Unix time (ms) of virtual time zero.
    epoch_unix_ms: u64,
    manager: Manager,
    /// The real-time driver's per-job bookkeeping: always empty here (the
    /// simulated world keeps none across a restart).
    #[serde(default)]
    books: BTreeMap<JobId, Value>,
    /// Absent when another program wrote the file last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<ServiceBook>,
}

/// What a state directory held when the service started.
pub(crate) struct Loaded {
    pub(crate) epoch_unix_ms: u64,
    pub(crate) manager: Manager,
    pub(crate) book: ServiceBook,
}

/// An open, locked state directory.
pub(crate) struct Store {
    dir: PathBuf,
    pub(crate) epoch_unix_ms: u64,
    last: Vec<u8>,
    /// Held while the store lives.
    _lock: QueueLock,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The queue file of the state directory `dir` (created when missing):
/// the simulated world's store and the http world's driver keep it there.
pub(crate) fn queue_path(dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create state directory {}: {e}", dir.display()),
        )
    })?;
    Ok(dir.join(QUEUE_FILE))
}

impl Store {
    /// Locks `dir` (creating it) and reads its queue, if any.
    pub(crate) fn open(dir: &Path) -> io::Result<(Store, Option<Loaded>)> {
        let path = queue_path(dir)?;
        let lock = QueueLock::acquire(&path)?;
        let loaded = match std::fs::read(&path) {
            Ok(bytes) => {
                let s: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: not a queue this service can read ({e}); move it away to start afresh",
                            path.display()
                        ),
                    )
                })?;
                let book = s.service.unwrap_or_else(|| ServiceBook::of(&s.manager));
                Some(Loaded {
                    epoch_unix_ms: s.epoch_unix_ms,
                    manager: s.manager,
                    book,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
            }
        };
        let store = Store {
            dir: dir.to_owned(),
            epoch_unix_ms: loaded.as_ref().map_or_else(unix_ms, |l| l.epoch_unix_ms),
            last: Vec::new(),
            _lock: lock,
        };
        Ok((store, loaded))
    }

    /// Writes the queue if it changed since the last write.
    pub(crate) fn save(&mut self, manager: &Manager, now: Time, clock: &str, starts: u64) {
        let file = StateFile {
            epoch_unix_ms: self.epoch_unix_ms,
            manager: manager.clone(),
            books: BTreeMap::new(),
            service: Some(ServiceBook {
                virtual_now_ms: now.as_millis(),
                clock: clock.to_owned(),
                starts,
            }),
        };
        let bytes = match serde_json::to_vec(&file) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot serialize the queue: {e}");
                return;
            }
        };
        if bytes == self.last {
            return;
        }
        match write_atomically(&self.dir.join(QUEUE_FILE), &bytes) {
            Ok(()) => self.last = bytes,
            Err(e) => tracing::warn!(
                dir = %self.dir.display(),
                "persisting the queue failed: {e}"
            ),
        }
    }
}
