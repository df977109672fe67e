//! The server-wide session table and its on-disk persistence.
//!
//! Each session is three files in `<state>/sessions/`:
//!
//! * `<id>.json`: the record, replaced atomically (write temp, fsync,
//!   rename, fsync dir) when it changes shape (creation, reply produced);
//! * `<id>.data`: the entity, written with positional writes;
//! * `<id>.off`: the hot progress (offset, total, last activity) in two
//!   checksummed, sequence-numbered 48-byte slots written alternately in
//!   place. A torn write can only damage the slot being written; the other
//!   still holds the previous state. This avoids a rename per fragment (on
//!   ext4 a rename over an existing file forces a flush, which cost ~0.4 ms
//!   per fragment). A slot is written only after the data it claims has
//!   been fdatasync'd (with `fsync`), so whichever slot version survives a
//!   power cut is true, and one fdatasync per fragment suffices.
//!
//! The offset only moves after the bytes below it are on disk, so a
//! `kill -9` (or, with `fsync`, a power cut) never loses an acknowledged
//! byte.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Query string of the upload URL (appended to the notification URL).
    #[serde(default)]
    pub query: Option<String>,
}

/// A live session: the record behind an async lock (one request at a time
/// per session, \[W32-UP\]) and its open data file.
#[derive(Debug)]
pub struct Session {
    /// Key in the table (lower-case GUID without braces).
    pub key: String,
    /// The record; locked for the whole of a request on this session.
    pub state: Arc<tokio::sync::Mutex<SessionState>>,
    /// Copy of the client address for cap counting without the async lock.
    pub client: String,
    /// The upload path, decoded once ([`crate::paths::decode_request_path`])
    /// for comparing every later packet's URL with it; `None` if a record
    /// loaded from disk holds a path that no longer decodes.
    pub url_parts: Option<Vec<String>>,
    /// Copies of the record's id and upload path, and progress counters,
    /// readable while a request holds the lock (`GET /_bitsim/sessions`
    /// lists a session in the middle of a slow fragment with them).
    pub live: LiveProgress,
}

/// What `GET /_bitsim/sessions` can read of a session without its lock.
#[derive(Debug)]
pub struct LiveProgress {
    /// The session id as sent to the client.
    pub id: String,
    /// The request path the session uploads to.
    pub url_path: String,
    /// The acknowledged offset (`BITS-Received-Content-Range`).
    pub received: AtomicU64,
    /// The upload's total size; `u64::MAX` until the first fragment.
    pub total: AtomicU64,
    /// Body bytes of the fragment being received now (0 between
    /// fragments); they count once the fragment is acknowledged.
    pub fragment_bytes: AtomicU64,
    /// The record's last successful packet, Unix milliseconds (the
    /// per-client cap counts only sessions that have not expired).
    pub last_activity_ms: AtomicU64,
}

impl LiveProgress {
    fn new(rec: &SessionRecord) -> Self {
        LiveProgress {
            id: rec.id.clone(),
            url_path: rec.url_path.clone(),
            received: AtomicU64::new(rec.received),
            total: AtomicU64::new(rec.total.unwrap_or(u64::MAX)),
            fragment_bytes: AtomicU64::new(0),
            last_activity_ms: AtomicU64::new(rec.last_activity_unix_ms),
        }
    }

    /// Records an acknowledged fragment: its bytes move from
    /// `fragment_bytes` to `received`.
    pub fn acknowledged(&self, rec: &SessionRecord) {
        self.fragment_bytes.store(0, Ordering::Relaxed);
        self.received.store(rec.received, Ordering::Relaxed);
        self.total
            .store(rec.total.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.last_activity_ms
            .store(rec.last_activity_unix_ms, Ordering::Relaxed);
    }

    /// The total, if known.
    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|t| *t != u64::MAX)
    }
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
    /// The progress file, opened lazily.
    pub progress: Option<Arc<File>>,
    /// Sequence number of the last progress slot written.
    pub seq: u64,
}

impl Session {
    /// A live session for `rec` whose last progress slot had sequence
    /// number `seq` (0 for a new session); files are opened lazily.
    fn new(rec: SessionRecord, seq: u64) -> Arc<Session> {
        Arc::new(Session {
            key: session_key(&rec.id),
            client: rec.client.clone(),
            url_parts: crate::paths::decode_request_path(&rec.url_path).ok(),
            live: LiveProgress::new(&rec),
            state: Arc::new(tokio::sync::Mutex::new(SessionState {
                rec,
                file: None,
                gone: false,
                progress: None,
                seq,
            })),
        })
    }
}

const SLOT: usize = 48;
const SLOT_MAGIC: &[u8; 4] = b"BSP1";

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn encode_slot(seq: u64, rec: &SessionRecord) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[0..4].copy_from_slice(SLOT_MAGIC);
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b[16..24].copy_from_slice(&rec.received.to_le_bytes());
    b[24..32].copy_from_slice(&rec.total.unwrap_or(u64::MAX).to_le_bytes());
    b[32..40].copy_from_slice(&rec.last_activity_unix_ms.to_le_bytes());
    let sum = fnv1a(&b[..40]);
    b[40..48].copy_from_slice(&sum.to_le_bytes());
    b
}

/// (seq, received, total, last activity) of a valid slot.
fn decode_slot(b: &[u8]) -> Option<(u64, u64, Option<u64>, u64)> {
    if b.len() < SLOT || &b[0..4] != SLOT_MAGIC {
        return None;
    }
    let word = |i: usize| -> Option<u64> { Some(u64::from_le_bytes(b[i..i + 8].try_into().ok()?)) };
    if word(40)? != fnv1a(&b[..40]) {
        return None;
    }
    let total = word(24)?;
    Some((
        word(8)?,
        word(16)?,
        (total != u64::MAX).then_some(total),
        word(32)?,
    ))
}

/// Reads the newest valid progress slot of a `.off` file.
fn read_progress(path: &Path) -> Option<(u64, u64, Option<u64>, u64)> {
    let bytes = std::fs::read(path).ok()?;
    let a = bytes.get(..SLOT).and_then(decode_slot);
    let b = bytes.get(SLOT..2 * SLOT).and_then(decode_slot);
    match (a, b) {
        (Some(x), Some(y)) => Some(if x.0 >= y.0 { x } else { y }),
        (x, y) => x.or(y),
    }
}

/// Writes all of `buf` at `off` without moving a file cursor (positional
/// write, blocking I/O).
pub(crate) fn write_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.write_all_at(buf, off)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0usize;
        while done < buf.len() {
            let n = f.seek_write(&buf[done..], off + done as u64)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// Writes progress slot `seq % 2` in place (blocking I/O).
pub fn write_progress(f: &File, seq: u64, rec: &SessionRecord, fsync: bool) -> std::io::Result<()> {
    let slot = encode_slot(seq, rec);
    write_at(f, &slot, (seq % 2) * SLOT as u64)?;
    if fsync {
        f.sync_data()?;
    }
    Ok(())
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
    /// Per client, sessions past the cap check whose files are still being
    /// created: they count toward the cap (always locked after `map`).
    pending: Mutex<HashMap<String, usize>>,
}

/// What [`SessionStore::create`] does when a client is at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCap {
    /// Most live sessions per client.
    pub max_per_client: usize,
    /// Sessions last active before this instant (Unix milliseconds) have
    /// expired and no longer count, even before the sweeper removes them.
    pub live_after_ms: u64,
}

/// Takes one pending place of a client back on drop (also on an I/O
/// error or a panic while the session's files are created).
struct Pending<'a> {
    store: &'a SessionStore,
    client: &'a str,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut p = self.store.pending();
        if let Some(n) = p.get_mut(self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                p.remove(self.client);
            }
        }
    }
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
            let mut seq = 0;
            if let Some((sq, received, total, last)) =
                read_progress(&dir.join(format!("{key}.off")))
            {
                seq = sq;
                rec.received = received;
                rec.total = total;
                rec.last_activity_unix_ms = last;
            }
            let data_len = std::fs::metadata(dir.join(format!("{key}.data")))
                .map(|m| m.len())
                .unwrap_or(0);
            if rec.received > data_len {
                tracing::warn!(session = %rec.id, rec.received, data_len, "clamping offset to data on disk");
                rec.received = data_len;
            }
            tracing::info!(session = %rec.id, received = rec.received, "resumed session");
            map.insert(key, Session::new(rec, seq));
        }
        // Data or progress files without a record (a crash between creating
        // the data file and writing the record) belong to no session.
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name
                .strip_suffix(".data")
                .or_else(|| name.strip_suffix(".off"));
            if let Some(stem) = stem
                && !map.contains_key(stem)
            {
                tracing::warn!(file = %name, "removing orphaned session file");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(SessionStore {
            dir,
            fsync,
            map: Mutex::new(map),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Path of a session's data file.
    pub fn data_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.data"))
    }

    /// Path of a session's progress file.
    pub fn progress_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.off"))
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

    /// Number of sessions of one client that count toward its cap: those
    /// active at or after `live_after_ms`, and those being created.
    fn count_locked(
        map: &HashMap<String, Arc<Session>>,
        pending: &HashMap<String, usize>,
        client: &str,
        live_after_ms: u64,
    ) -> usize {
        let live = map
            .values()
            .filter(|s| {
                s.client == client
                    && s.live.last_activity_ms.load(Ordering::Relaxed) >= live_after_ms
            })
            .count();
        live + pending.get(client).copied().unwrap_or(0)
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

    /// Creates, persists and registers a new session (blocking I/O), or
    /// returns `Ok(None)` if its client is at `cap`. The check and the
    /// registration are one step: concurrent Create-Sessions of a client
    /// can never exceed the cap together.
    pub fn create(
        &self,
        rec: SessionRecord,
        cap: SessionCap,
    ) -> std::io::Result<Option<Arc<Session>>> {
        let client = rec.client.clone();
        let pending = {
            let map = self.lock();
            let mut p = self.pending();
            if Self::count_locked(&map, &p, &client, cap.live_after_ms) >= cap.max_per_client {
                return Ok(None);
            }
            *p.entry(client.clone()).or_insert(0) += 1;
            Pending {
                store: self,
                client: &client,
            }
        };
        let key = session_key(&rec.id);
        File::create(self.data_path(&key))?;
        self.persist(&rec)?;
        let s = Session::new(rec, 0);
        let mut map = self.lock();
        map.insert(key, s.clone());
        // Registered and no longer pending, under the same lock.
        drop(pending);
        drop(map);
        Ok(Some(s))
    }

    /// Unregisters a session and deletes its record, data and reply file
    /// (blocking I/O). Missing files are ignored.
    pub fn remove(&self, key: &str, reply_file: Option<&Path>) {
        self.lock().remove(key);
        let _ = std::fs::remove_file(self.record_path(key));
        let _ = std::fs::remove_file(self.progress_path(key));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(received: u64) -> SessionRecord {
        SessionRecord {
            id: "{A}".into(),
            url_path: "/x".into(),
            dest: PathBuf::from("/x"),
            total: Some(100),
            received,
            client: "127.0.0.1".into(),
            created_unix_ms: 1,
            last_activity_unix_ms: 2,
            reply_route: None,
            reply: None,
            query: None,
        }
    }

    #[test]
    fn progress_slots_survive_a_torn_write() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("s.off");
        let f = File::create(&p).expect("create");
        write_progress(&f, 1, &rec(10), false).expect("write");
        write_progress(&f, 2, &rec(20), false).expect("write");
        assert_eq!(read_progress(&p).map(|x| x.1), Some(20));
        // Tear slot 0 (seq 2): the older slot 1 (seq 1) wins.
        write_at(&f, &[0xFF; 8], 16).expect("tear");
        assert_eq!(read_progress(&p).map(|x| (x.0, x.1)), Some((1, 10)));
        assert_eq!(read_progress(&d.path().join("missing")), None);
    }
}
