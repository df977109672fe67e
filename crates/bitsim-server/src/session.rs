//! The server-wide session table and its on-disk persistence.
//!
//! Each session is two files in `<state>/sessions/`: `<id>.json` (the
//! record, replaced atomically by write-temp + fsync + rename) and
//! `<id>.data` (the entity, written with positional writes). The record's
//! `received` offset only moves after the bytes below it are on disk, so a
//! `kill -9` (or, with `fsync`, a power cut) never loses an acknowledged
//! byte.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (wall clock; only used for expiry).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The reply side of an upload-reply session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplyState {
    /// The `BITS-Reply-URL` sent to the client (absolute).
    pub url: String,
    /// The reply file on disk (absent for a static response URL).
    pub file: Option<PathBuf>,
    /// Publish the upload at its destination on Close-Session.
    pub copy_to_destination: bool,
}

/// The persisted record of one session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id as sent to the client (`{GUID}`, upper case).
    pub id: String,
    /// The request path the session uploads to.
    pub url_path: String,
    /// The destination file under the root.
    pub dest: PathBuf,
    /// Total size, known from the first fragment.
    pub total: Option<u64>,
    /// Next expected byte (`BITS-Received-Content-Range`).
    pub received: u64,
    /// Client IP address (for the per-client cap).
    pub client: String,
    /// Creation time, Unix milliseconds.
    pub created_unix_ms: u64,
    /// Last successful packet, Unix milliseconds (for expiry).
    pub last_activity_unix_ms: u64,
    /// Index into `Config::reply` if this is an upload-reply session.
    pub reply_route: Option<usize>,
    /// Set once the server application has produced the reply.
    pub reply: Option<ReplyState>,
}

/// A live session: the record behind an async lock (one request at a time
/// per session, [W32-UP]) and its open data file.
#[derive(Debug)]
pub struct Session {
    /// Key in the table (lower-case GUID without braces).
    pub key: String,
    /// The record; locked for the whole of a request on this session.
    pub state: Arc<tokio::sync::Mutex<SessionState>>,
    /// Copy of the client address for cap counting without the async lock.
    pub client: String,
}

/// What the session lock protects.
#[derive(Debug)]
pub struct SessionState {
    /// The persisted record.
    pub rec: SessionRecord,
    /// The data file, opened lazily.
    pub file: Option<Arc<File>>,
    /// Set when the session was closed/cancelled/expired while a request
    /// waited for the lock.
    pub gone: bool,
}

/// Normalises a `BITS-Session-Id` to the table key.
pub fn session_key(id: &str) -> String {
    id.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// The server-wide session table.
#[derive(Debug)]
pub struct SessionStore {
    dir: PathBuf,
    fsync: bool,
    map: Mutex<HashMap<String, Arc<Session>>>,
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, and fsync
/// of the directory when `fsync` is set.
pub fn write_atomic(path: &Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if fsync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if fsync && let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl SessionStore {
    /// Opens (creating) the session directory and loads every persisted
    /// session. A record whose offset is beyond its data file's length is
    /// clamped to the length (data lost before a crash without fsync).
    pub fn open(dir: PathBuf, fsync: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut map = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let rec: SessionRecord = match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(r) => r,
                None => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable session record");
                    continue;
                }
            };
            let key = session_key(&rec.id);
            let mut rec = rec;
            let data_len = std::fs::metadata(dir.join(format!("{key}.data")))
                .map(|m| m.len())
                .unwrap_or(0);
            if rec.received > data_len {
                tracing::warn!(session = %rec.id, rec.received, data_len, "clamping offset to data on disk");
                rec.received = data_len;
            }
            tracing::info!(session = %rec.id, received = rec.received, "resumed session");
            map.insert(
                key.clone(),
                Arc::new(Session {
                    key,
                    client: rec.client.clone(),
                    state: Arc::new(tokio::sync::Mutex::new(SessionState {
                        rec,
                        file: None,
                        gone: false,
                    })),
                }),
            );
        }
        Ok(SessionStore {
            dir,
            fsync,
            map: Mutex::new(map),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Path of a session's data file.
    pub fn data_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.data"))
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// Whether records are fsynced.
    pub fn fsync(&self) -> bool {
        self.fsync
    }

    /// Looks a session up by `BITS-Session-Id`.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(&session_key(id)).cloned()
    }

    /// Number of live sessions of one client.
    pub fn count_for_client(&self, client: &str) -> usize {
        self.lock().values().filter(|s| s.client == client).count()
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Persists a record (blocking I/O).
    pub fn persist(&self, rec: &SessionRecord) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
        write_atomic(&self.record_path(&session_key(&rec.id)), &bytes, self.fsync)
    }

    /// Creates, persists and registers a new session (blocking I/O).
    pub fn create(&self, rec: SessionRecord) -> std::io::Result<Arc<Session>> {
        let key = session_key(&rec.id);
        File::create(self.data_path(&key))?;
        self.persist(&rec)?;
        let s = Arc::new(Session {
            key: key.clone(),
            client: rec.client.clone(),
            state: Arc::new(tokio::sync::Mutex::new(SessionState {
                rec,
                file: None,
                gone: false,
            })),
        });
        self.lock().insert(key, s.clone());
        Ok(s)
    }

    /// Unregisters a session and deletes its record, data and reply file
    /// (blocking I/O). Missing files are ignored.
    pub fn remove(&self, key: &str, reply_file: Option<&Path>) {
        self.lock().remove(key);
        let _ = std::fs::remove_file(self.record_path(key));
        let _ = std::fs::remove_file(self.data_path(key));
        if let Some(r) = reply_file {
            let _ = std::fs::remove_file(r);
        }
        if self.fsync
            && let Ok(d) = File::open(&self.dir)
        {
            let _ = d.sync_all();
        }
    }
}
