//! The COM server's client of `bitsim service`: JSON-RPC 2.0, one message
//! per line over loopback TCP, with no Windows dependency (it is built and
//! tested on Linux against a real service).
//!
//! * [`Connection`] opens a connection, says who it calls as
//!   (`session.hello`), sends calls and waits for their answers, and hands
//!   the requests the service sends (callback notifications: `JobTransferred`,
//!   `JobError`, `JobModification`, `FileTransferred`) to a handler, each
//!   on a thread of its own, answering each with the HRESULT the handler
//!   returns. The handler may call the service again (a COM callback that
//!   calls `Cancel`), which is why it does not run on the reading thread;
//!   and a callback that takes its time does not hold the next one back:
//!   with a service on a real or scaled clock, which sends a notification
//!   while others are unanswered, the program sees as many calls at once
//!   as BITS would make (the model's four per user), not one.
//! * [`reply_of`] turns a BITS method's result into the model's
//!   [`Reply`] or the exact failing HRESULT ([`CallError`]).
//! * [`job_from_u128`] / [`job_to_u128`] convert job GUIDs: the protocol
//!   writes them as text, COM as a `GUID` struct (the `windows` crate's
//!   `GUID::from_u128` / `to_u128` take the same 128-bit number).
//! * [`service_address`] picks the service's address from the environment
//!   variable `BITSIM_SERVICE` or the registry value
//!   `HKLM\Software\bitsim\Service`.
//!
//! # Errors that are not BITS's
//!
//! A BITS method's failure is a result carrying its HRESULT, passed on
//! unchanged. What is left are failures of the bridge itself:
//!
//! * the service cannot be reached, the connection breaks, or an answer
//!   takes longer than the call timeout: `0x800706BA`
//!   (`HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE)`), what a COM client of
//!   the real BITS sees when the service process is gone;
//! * the service refuses a call as protocol misuse (a JSON-RPC error):
//!   `E_INVALIDARG` for params that do not fit (`-32602`), `E_FAIL`
//!   otherwise, with the service's message.

use bitsim_model::{Hresult, JobId, Reply};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::Duration;

/// The environment variable naming the service's address (`127.0.0.1:PORT`).
pub const ENV_SERVICE: &str = "BITSIM_SERVICE";

/// The registry value naming the service's address when the environment
/// variable is not set: `HKLM\Software\bitsim`, value `Service`.
pub const REGISTRY_KEY: &str = "Software\\bitsim";

/// The value under [`REGISTRY_KEY`].
pub const REGISTRY_VALUE: &str = "Service";

/// `HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE)`: the service is gone.
pub const SERVICE_GONE: Hresult = Hresult::RPC_E_SERVER_UNAVAILABLE;

/// How long a call waits for its answer by default. Longer than the
/// service's own wait for a callback's answer (30 s), during which it holds
/// other connections' calls.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed call: the HRESULT the COM method returns, and a message naming
/// what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The HRESULT, exactly as the service gave it for a BITS failure.
    pub hresult: Hresult,
    /// The service's message, or what failed in the bridge.
    pub message: String,
}

impl CallError {
    fn new(hresult: Hresult, message: impl Into<String>) -> CallError {
        CallError {
            hresult,
            message: message.into(),
        }
    }

    fn gone(what: impl fmt::Display) -> CallError {
        CallError::new(SERVICE_GONE, format!("bitsim service: {what}"))
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.hresult, self.message)
    }
}

impl std::error::Error for CallError {}

/// The service's address: `env` (the value of [`ENV_SERVICE`]) if set and
/// not empty, else `registry` (the value under [`REGISTRY_KEY`]).
pub fn service_address(env: Option<&str>, registry: Option<&str>) -> Result<SocketAddr, CallError> {
    let (text, from) = match (env.map(str::trim), registry.map(str::trim)) {
        (Some(e), _) if !e.is_empty() => (e, ENV_SERVICE.to_owned()),
        (_, Some(r)) if !r.is_empty() => (r, format!("HKLM\\{REGISTRY_KEY}\\{REGISTRY_VALUE}")),
        _ => {
            return Err(CallError::gone(format!(
                "no address: set {ENV_SERVICE} or HKLM\\{REGISTRY_KEY}\\{REGISTRY_VALUE} to the address of `bitsim service --listen` (e.g. 127.0.0.1:7300)"
            )));
        }
    };
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| CallError::gone(format!("{from} = {text:?} is not HOST:PORT ({e})")))?;
    addrs
        .next()
        .ok_or_else(|| CallError::gone(format!("{from} = {text:?} resolves to no address")))
}

/// A job's GUID from the 128-bit number of a COM `GUID`.
pub fn job_from_u128(v: u128) -> JobId {
    JobId(uuid::Uuid::from_u128(v))
}

/// The 128-bit number of a job's COM `GUID`.
pub fn job_to_u128(job: JobId) -> u128 {
    job.0.as_u128()
}

/// 100-nanosecond intervals from 1601-01-01 (a `FILETIME`'s origin) to
/// 1970-01-01 (the Unix epoch).
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// The `FILETIME` (100-ns intervals since 1601-01-01 UTC, as one number)
/// of the model's time `t` on a service whose virtual time zero is the
/// calendar instant `epoch_unix_ms` (`session.hello`'s `epoch_unix_ms`).
/// Saturates instead of wrapping past the year 30828.
pub fn filetime(epoch_unix_ms: u64, t: bitsim_model::Time) -> u64 {
    epoch_unix_ms
        .saturating_add(t.as_millis())
        .saturating_mul(10_000)
        .saturating_add(FILETIME_UNIX_EPOCH)
}

/// The line of request `id`.
pub fn request(id: u64, method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// The line answering the service's request `id` (a notification) with
/// the HRESULT the callback returned.
pub fn answer(id: &Value, hr: Hresult) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": hr.0}).to_string()
}

/// The model's reply in a BITS method's result, or the failing HRESULT.
///
/// A result is `{"hresult": {"name", "value", "hex"}, "reply", "value"}`
/// on success and `{"hresult", "message"}` on failure (see the service's
/// `methods` module). A `GetError` reply shows its code as an HRESULT
/// object too; it is read back as the number.
pub fn reply_of(method: &str, result: Value) -> Result<Reply, CallError> {
    let malformed = |what: &str| {
        CallError::new(
            Hresult::E_FAIL,
            format!("{method}: the service's result {what}: {result}"),
        )
    };
    let hr = result
        .get("hresult")
        .and_then(|h| h.get("value"))
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .map(Hresult)
        .ok_or_else(|| malformed("has no hresult.value"))?;
    if hr.is_failure() {
        let message = result
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| hr.message().into_owned(), str::to_owned);
        return Err(CallError::new(hr, message));
    }
    let mut r = result.clone();
    if let Some(m) = r.as_object_mut() {
        m.remove("hresult");
        m.remove("message");
    }
    if r.get("reply").and_then(Value::as_str) == Some("error")
        && let Some(code) = r.pointer("/value/code/value").cloned()
    {
        r["value"]["code"] = code;
    }
    serde_json::from_value::<Reply>(r).map_err(|e| malformed(&format!("is not a reply ({e})")))
}

/// A request the service sent: a callback notification for `job`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The callback method: `JobTransferred`, `JobError`,
    /// `JobModification`, `FileTransferred`.
    pub method: String,
    /// The job it is about.
    pub job: JobId,
    /// The request's whole params (`error` for JobError, `file` for
    /// FileTransferred).
    pub params: Value,
}

/// What a [`Connection`] calls for each notification; its HRESULT is the
/// answer (what the program's callback method returned).
/// It runs on several threads at once (one per unanswered notification).
pub type Handler = Box<dyn Fn(&Arc<Connection>, &Notification) -> Hresult + Send + Sync + 'static>;

type Pending = BTreeMap<u64, Sender<Result<Value, CallError>>>;

/// One connection to `bitsim service`, shared by every COM object of the
/// server process (`Sync`: COM calls arrive on several threads).
pub struct Connection {
    writer: Mutex<TcpStream>,
    pending: Arc<Mutex<Pending>>,
    alive: Arc<AtomicBool>,
    next_id: AtomicU64,
    timeout: Duration,
    /// `session.hello`'s `epoch_unix_ms` (a service older than it: unset).
    epoch_unix_ms: OnceLock<u64>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("alive", &self.alive.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Connection {
    /// Connects to `addr`, says `session.hello {user, admin}`, and starts
    /// the threads that read answers and run `handler` on notifications.
    pub fn connect(
        addr: SocketAddr,
        user: &str,
        admin: bool,
        handler: Handler,
    ) -> Result<Arc<Connection>, CallError> {
        Connection::connect_with_timeout(addr, user, admin, handler, CALL_TIMEOUT)
    }

    /// [`Connection::connect`] with a call timeout other than
    /// [`CALL_TIMEOUT`].
    pub fn connect_with_timeout(
        addr: SocketAddr,
        user: &str,
        admin: bool,
        handler: Handler,
        timeout: Duration,
    ) -> Result<Arc<Connection>, CallError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| CallError::gone(format!("cannot connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let reader = stream
            .try_clone()
            .map_err(|e| CallError::gone(format!("{addr}: {e}")))?;
        let (notes_tx, notes_rx) = mpsc::channel::<(Value, Notification)>();
        let conn = Arc::new(Connection {
            writer: Mutex::new(stream),
            pending: Arc::new(Mutex::new(BTreeMap::new())),
            alive: Arc::new(AtomicBool::new(true)),
            next_id: AtomicU64::new(1),
            timeout,
            epoch_unix_ms: OnceLock::new(),
        });
        let (pending, alive) = (conn.pending.clone(), conn.alive.clone());
        thread::Builder::new()
            .name("bitsim-read".into())
            .spawn(move || read_loop(reader, &pending, &alive, &notes_tx))
            .map_err(|e| CallError::gone(format!("cannot start a thread: {e}")))?;
        let weak = Arc::downgrade(&conn);
        thread::Builder::new()
            .name("bitsim-notify".into())
            .spawn(move || notify_loop(&notes_rx, &weak, handler))
            .map_err(|e| CallError::gone(format!("cannot start a thread: {e}")))?;
        let hello = conn.call("session.hello", json!({"user": user, "admin": admin}))?;
        if let Some(e) = hello.get("epoch_unix_ms").and_then(Value::as_u64) {
            let _ = conn.epoch_unix_ms.set(e);
        }
        tracing::debug!(%addr, user, admin, "connected to bitsim service");
        Ok(conn)
    }

    /// The calendar instant (unix ms) of the service's virtual time zero,
    /// as its `session.hello` said: what [`filetime`] needs for
    /// `GetTimes`. `None` from a service that does not say.
    pub fn epoch_unix_ms(&self) -> Option<u64> {
        self.epoch_unix_ms.get().copied()
    }

    /// Whether the connection is still open.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Sends `method` with `params` and waits for its answer: the result,
    /// or a [`CallError`] for a JSON-RPC error or a transport failure.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        if !self.is_alive() {
            return Err(CallError::gone(format!(
                "{method}: the connection is closed"
            )));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx): (_, Receiver<Result<Value, CallError>>) = mpsc::channel();
        lock(&self.pending).insert(id, tx);
        if let Err(e) = self.send_line(&request(id, method, &params)) {
            lock(&self.pending).remove(&id);
            return Err(CallError::gone(format!("{method}: cannot send ({e})")));
        }
        let r = rx.recv_timeout(self.timeout);
        lock(&self.pending).remove(&id);
        match r {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(CallError::gone(format!(
                "{method}: no answer within {:?}",
                self.timeout
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(CallError::gone(format!(
                "{method}: the connection closed before the answer"
            ))),
        }
    }

    /// A BITS method (`manager.create_job`, `job.resume`, ...): the model's
    /// reply or the failing HRESULT.
    pub fn bits(&self, method: &str, params: Value) -> Result<Reply, CallError> {
        let r = self.call(method, params)?;
        reply_of(method, r)
    }

    /// Closes the connection: the service counts its callback object as
    /// gone; later calls fail with [`SERVICE_GONE`].
    pub fn close(&self) {
        self.alive.store(false, Ordering::SeqCst);
        let _ = lock(&self.writer).shutdown(std::net::Shutdown::Both);
    }

    /// Writes `line` and its newline in one write: under Wine every
    /// socket write is a round trip through wineserver, and with
    /// TCP_NODELAY a separate "\n" would also be a second packet.
    fn send_line(&self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        lock(&self.writer).write_all(&bytes)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// The JSON-RPC error code for params that do not fit.
const INVALID_PARAMS: i64 = -32602;

fn read_loop(
    stream: TcpStream,
    pending: &Mutex<Pending>,
    alive: &AtomicBool,
    notes: &Sender<(Value, Notification)>,
) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            tracing::warn!("bitsim service sent a line that is not JSON: {line:?}");
            continue;
        };
        if let Some(method) = v.get("method").and_then(Value::as_str) {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            let job = params
                .get("job")
                .cloned()
                .and_then(|j| serde_json::from_value::<JobId>(j).ok());
            match job {
                Some(job) => {
                    let n = Notification {
                        method: method.to_owned(),
                        job,
                        params,
                    };
                    if notes.send((id, n)).is_err() {
                        break;
                    }
                }
                None => tracing::warn!("a request from the service without a job: {v}"),
            }
            continue;
        }
        let Some(id) = v.get("id").and_then(Value::as_u64) else {
            tracing::warn!("an answer to no request of ours: {v}");
            continue;
        };
        let result = match (v.get("result"), v.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(e)) => {
                let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
                let msg = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)");
                let hr = if code == INVALID_PARAMS {
                    Hresult::E_INVALIDARG
                } else {
                    Hresult::E_FAIL
                };
                Err(CallError::new(
                    hr,
                    format!("bitsim service refused the call ({code}): {msg}"),
                ))
            }
            (None, None) => Err(CallError::new(
                Hresult::E_FAIL,
                format!("an answer with neither result nor error: {v}"),
            )),
        };
        if let Some(tx) = lock(pending).remove(&id) {
            let _ = tx.send(result);
        }
    }
    alive.store(false, Ordering::SeqCst);
    // Dropping the senders wakes every caller still waiting.
    lock(pending).clear();
    tracing::debug!("bitsim service closed the connection");
}

fn notify_loop(
    notes: &Receiver<(Value, Notification)>,
    conn: &std::sync::Weak<Connection>,
    handler: Handler,
) {
    // One thread per notification: the service decides how many are
    // outstanding at once (the model's per-user limit), not this loop.
    let handler: Arc<Handler> = Arc::new(handler);
    while let Ok((id, n)) = notes.recv() {
        let Some(conn) = conn.upgrade() else { break };
        let handler = handler.clone();
        let spawned = thread::Builder::new()
            .name("bitsim-callback".into())
            .spawn(move || {
                let hr = handler(&conn, &n);
                tracing::debug!(method = %n.method, job = %n.job, %hr, "notification answered");
                if let Err(e) = conn.send_line(&answer(&id, hr)) {
                    tracing::warn!("cannot answer a notification: {e}");
                }
            });
        if let Err(e) = spawned {
            // No thread for the callback: no answer, so the service's wait
            // runs out and it counts the object as gone.
            tracing::warn!("cannot start a callback thread: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_environment_then_the_registry() {
        let a = service_address(Some("127.0.0.1:7300"), Some("127.0.0.1:9")).unwrap();
        assert_eq!(a, "127.0.0.1:7300".parse().unwrap());
        let a = service_address(Some(" "), Some("127.0.0.1:9")).unwrap();
        assert_eq!(a, "127.0.0.1:9".parse().unwrap());
        let e = service_address(None, None).unwrap_err();
        assert_eq!(e.hresult, SERVICE_GONE);
        assert!(e.message.contains(ENV_SERVICE), "{e}");
        let e = service_address(Some("localhost"), None).unwrap_err();
        assert!(e.message.contains("\"localhost\""), "{e}");
        assert!(e.message.contains(ENV_SERVICE), "{e}");
    }

    #[test]
    fn guids_round_trip_with_the_com_layout() {
        // {4991D34B-80A1-4291-83B6-3328366B9097} as windows::core::GUID
        // takes it: GUID::from_u128(0x4991d34b_80a1_4291_83b6_3328366b9097).
        let v = 0x4991d34b_80a1_4291_83b6_3328366b9097_u128;
        let job = job_from_u128(v);
        assert_eq!(job.to_string(), "{4991D34B-80A1-4291-83B6-3328366B9097}");
        assert_eq!(job_to_u128(job), v);
    }

    #[test]
    fn failures_keep_their_hresult_and_message() {
        let r = json!({"hresult": {"name": "BG_E_INVALID_STATE", "value": 0x8020_0007_u32,
                       "hex": "0x80200007"}, "message": "the job is in the wrong state"});
        let e = reply_of("job.resume", r).unwrap_err();
        assert_eq!(e.hresult, Hresult(0x8020_0007));
        assert_eq!(e.message, "the job is in the wrong state");
    }

    #[test]
    fn success_codes_and_replies_are_read() {
        let r = json!({"hresult": {"name": "BG_S_PARTIAL_COMPLETE", "value": 0x0020_0017,
                       "hex": "0x00200017"}, "reply": "done", "value": "BG_S_PARTIAL_COMPLETE"});
        assert_eq!(
            reply_of("job.complete", r).unwrap(),
            Reply::Done(Hresult(0x0020_0017))
        );
        let r = json!({"hresult": {"name": "S_OK", "value": 0, "hex": "0x00000000"},
                       "reply": "state", "value": "TRANSFERRED"});
        assert_eq!(
            reply_of("job.get_state", r).unwrap(),
            Reply::State(bitsim_model::JobState::Transferred)
        );
        let e = reply_of("job.get_state", json!({"reply": "state"})).unwrap_err();
        assert_eq!(e.hresult, Hresult::E_FAIL);
        assert!(e.message.contains("hresult"), "{e}");
        let e = reply_of(
            "job.get_state",
            json!({"hresult": {"value": 0}, "reply": "nope"}),
        )
        .unwrap_err();
        assert!(e.message.contains("not a reply"), "{e}");
    }

    #[test]
    fn filetimes_count_from_1601() {
        use bitsim_model::Time;
        // 1970-01-01T00:00:00Z is FILETIME 116444736000000000.
        assert_eq!(filetime(0, Time(0)), 116_444_736_000_000_000);
        // 2000-01-01T00:00:00Z (946684800 s after 1970), plus 1.5 s.
        assert_eq!(
            filetime(946_684_800_000, Time(1_500)),
            125_911_584_000_000_000 + 15_000_000
        );
        assert_eq!(filetime(u64::MAX, Time(1)), u64::MAX);
    }

    #[test]
    fn answers_carry_the_callbacks_hresult() {
        let line = answer(&json!("bitsim-3"), Hresult::E_FAIL);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], "bitsim-3");
        assert_eq!(v["result"], 0x8000_4005_u32);
    }
}
