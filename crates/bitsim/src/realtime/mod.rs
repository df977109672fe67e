//! Real time: the same BITS model, callbacks and timers moving real bytes
//! over HTTP with tokio and hyper.
//!
//! [`Driver`] is a thin quinn-style loop around [`Manager`]: it owns the
//! model, turns [`Output::StartTransfer`](bitsim_model::Output::StartTransfer) into a tokio task that speaks
//! HTTP (downloads as BITS does them, uploads as the \[MC-BUP\] client),
//! feeds what the tasks report back through an mpsc channel as
//! `handle_*` calls, sleeps until [`Manager::poll_timeout`] or the next
//! event, calls your [`Callback`]s on its own task, and persists the queue
//! to a state file after every change, so a new process picks it up like
//! the BITS service after a reboot ([`Manager::handle_service_restart`]).
//!
//! Time is the real clock: [`Time`] counts milliseconds since the driver's
//! epoch, kept in the state file so it stays monotonic across restarts.
//!
//! One process drives a persisted queue at a time: a driver with a state
//! file holds its lock ([`QueueLock`], `<state>.lock`) while it lives, and
//! other processes may still read the file ([`read_queue`]). To manage a
//! queue without transferring (cancel, complete, resume, suspend as an
//! administrator would), open it with [`Driver::open_held`].
//!
//! A front with a loop of its own (`bitsim service --world http`) does not
//! sit in [`Driver::run_until`]: it pumps the driver ([`Driver::pump`])
//! when a transfer task wakes it ([`Driver::set_waker`]) or a timer is
//! due, and takes notifications for callback objects that answer from
//! outside ([`Driver::add_remote_callback`],
//! [`Driver::poll_remote_notification`],
//! [`Driver::remote_callback_returned`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use bitsim::realtime::{Driver, RtConfig};
//! use bitsim_model::{Caller, JobState};
//!
//! let mut drv = Driver::open(RtConfig::default())?;
//! let me = Caller::user("me");
//! let job = drv
//!     .download(&me, "http://127.0.0.1:8080/a.bin", "/tmp/a.bin")
//!     .expect("job created");
//! drv.run_until(std::time::Duration::from_secs(60), |m| {
//!     m.job(job).is_some_and(|j| j.state == JobState::Transferred)
//! })
//! .await;
//! drv.complete(&me, job).expect("published");
//! # Ok(()) }
//! ```

mod backend;
mod download;
mod early_answer;
mod http;
mod launch;
mod queue;
mod remote;
mod upload;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitsim_model::{
    CallbackId, Caller, CommandOutcome, ErrorContext, FileRef, Hresult, JobId, JobState, JobType,
    Manager, NotificationId, NotifyKind, Policy, Rule, Time, TransferError, UserId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::callback::Callback;
use crate::engine::{Callbacks, Effects};

pub use backend::RtBackend;
pub use launch::Launcher;
pub use queue::{QueueLock, QueueSnapshot, lock_path, read_queue, write_atomically};
pub use upload::{MIN_FRAGMENT, PROTOCOL_GUID};

/// Settings of the real-time driver.
#[derive(Debug, Clone)]
pub struct RtConfig {
    /// Where the queue is persisted (`None`: in memory only).
    pub state_file: Option<PathBuf>,
    /// The model's policy for a new queue (tests may shorten
    /// `callback_retry_interval`); a loaded state file keeps its own.
    pub policy: Policy,
    /// Per-request timeout (\[MC-BUP\] 3.6.2: request/response timers of
    /// 5 minutes each).
    pub request_timeout: Duration,
    /// Bytes asked per ranged `GET` (implementation-chosen, \[MC-BUP\] 3.6.5.2.4.2).
    pub download_fragment: u64,
    /// First fragment size of uploads (Windows: at most 13 MB, [MCBUP-6 <16>]).
    pub upload_fragment: u64,
    /// How often a running transfer reports progress at most.
    pub progress_interval: Duration,
    /// A PEM file of CA certificates trusted for `https://` URLs besides
    /// the system's roots (e.g. the `ca.pem` of `bitsim serve
    /// --tls-self-signed`); `None`: the system's roots only.
    pub ca_file: Option<PathBuf>,
    /// How notification command lines are started: `None` (the default)
    /// runs the program as a native process; a [`Launcher`] runs
    /// `LAUNCHER ARGS... PROGRAM PARAMETERS...` (e.g. the Wine loader, for
    /// jobs of Windows programs). An effect, not a BITS rule: the model
    /// keeps what the job's owner set.
    pub launcher: Option<Launcher>,
}

impl Default for RtConfig {
    fn default() -> Self {
        RtConfig {
            state_file: None,
            policy: Policy::default(),
            request_timeout: Duration::from_secs(300),
            download_fragment: 16 << 20,
            upload_fragment: 4 << 20,
            progress_interval: Duration::from_millis(200),
            ca_file: None,
            launcher: None,
        }
    }
}

/// What the driver tells an observer ([`Driver::set_observer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtEvent {
    /// A rule of the transition table fired (T16 progress rows are left
    /// out; see [`RtEvent::Progress`]).
    Transition {
        /// Which job.
        job: JobId,
        /// The row.
        rule: Rule,
        /// State before.
        from: JobState,
        /// State after.
        to: JobState,
        /// The error recorded, if any.
        code: Option<Hresult>,
    },
    /// Bytes moved (file or reply).
    Progress {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
        /// Bytes so far.
        bytes: u64,
        /// Total bytes.
        total: u64,
    },
    /// The remote file changed: the file restarts from byte 0.
    FileRestarted {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
    },
    /// A callback method was called.
    Callback {
        /// Which job.
        job: JobId,
        /// `JobTransferred`, `JobError`, ...
        method: &'static str,
        /// What it returned.
        result: Hresult,
    },
}

/// Size and `Last-Modified` of a remote file as last seen (\[CONSIST\]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    size: u64,
    last_modified: Option<String>,
}

/// Size and modification time of an upload source (\[CONSIST\]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadStamp {
    size: u64,
    mtime_ms: u64,
}

/// The driver's own per-job bookkeeping, persisted with the queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct JobBook {
    /// Remote stamps per file index (downloads) and of the reply (`usize::MAX`).
    stamps: BTreeMap<usize, Stamp>,
    /// The open upload session.
    session: Option<String>,
    /// The upload source as first seen.
    upload: Option<UploadStamp>,
    /// `BITS-Reply-URL` of the final Ack.
    reply_url: Option<String>,
}

const REPLY_KEY: usize = usize::MAX;

fn key(f: FileRef) -> usize {
    match f {
        FileRef::File(i) => i,
        FileRef::Reply => REPLY_KEY,
    }
}

/// The state file: the model plus the driver's bookkeeping.
#[derive(Serialize, Deserialize)]
struct StateFile {
    /// Unix time (ms) of the driver's [`Time::ZERO`].
    epoch_unix_ms: u64,
    manager: Manager,
    books: BTreeMap<JobId, JobBook>,
}

/// What a transfer task reports.
#[derive(Debug)]
pub(crate) enum Ev {
    Connected,
    Size(FileRef, u64),
    Progress(FileRef, u64, u64),
    FileReset(FileRef),
    Stamp(FileRef, Stamp),
    UploadStamp(UploadStamp),
    Session(Option<String>),
    ReplyUrl(String),
    FileDone(FileRef, Option<Vec<u8>>),
    Error(TransferError),
    UploadCancelled,
    CommandDone(NotificationId, CommandOutcome),
    CallbackDone(NotificationId, Hresult),
}

#[derive(Debug)]
pub(crate) struct Msg {
    job: JobId,
    generation: u64,
    ev: Ev,
}

/// A transfer task's handle on the driver.
pub(crate) struct Task {
    job: JobId,
    generation: u64,
    tx: mpsc::UnboundedSender<Msg>,
    http: http::Http,
    cfg: Arc<RtConfig>,
}

impl Task {
    fn send(&self, ev: Ev) {
        let _ = self.tx.send(Msg {
            job: self.job,
            generation: self.generation,
            ev,
        });
    }
}

type Observer = Box<dyn FnMut(&Manager, &RtEvent) + Send>;

/// The real-time driver: one task owns the [`Manager`]; transfers run as
/// tokio tasks. Methods that start transfers must be called inside a
/// tokio runtime.
pub struct Driver {
    mgr: Manager,
    cfg: Arc<RtConfig>,
    epoch_unix_ms: u64,
    clock_base: u64,
    started: Instant,
    books: BTreeMap<JobId, JobBook>,
    callbacks: Callbacks<Box<dyn Callback + Send>>,
    transfers: HashMap<JobId, (u64, AbortHandle)>,
    generation: u64,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    http: http::Http,
    observer: Option<Observer>,
    dirty: bool,
    last_persist: Instant,
    /// The queue's lock, held while the driver lives (see [`QueueLock`]).
    _lock: Option<QueueLock>,
    /// Opened to manage the queue, not to transfer ([`Driver::open_held`]).
    held: bool,
    /// Callback objects that answer from outside the driver (remote.rs).
    remote: crate::engine::remote::RemoteObjects,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The temporary file BITS keeps beside the destination (the model's
/// [`bitsim_model::temp_file_name`], decision A30).
pub fn temp_path(local: &Path, job: JobId, file: FileRef) -> PathBuf {
    PathBuf::from(bitsim_model::temp_file_name(
        &local.to_string_lossy(),
        job,
        file,
    ))
}

impl Driver {
    /// Opens the queue: takes its lock ([`QueueLock`]: an error of kind
    /// [`std::io::ErrorKind::ResourceBusy`] names the process that holds
    /// it), loads the state file if it exists (and tells the model the
    /// service restarted, X2), else starts empty.
    pub fn open(cfg: RtConfig) -> std::io::Result<Driver> {
        let lock = match &cfg.state_file {
            Some(p) => Some(QueueLock::acquire(p)?),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let now = unix_ms();
        let loaded = match &cfg.state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read(p)?;
                let s: StateFile = serde_json::from_slice(&text).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })?;
                Some(s)
            }
            _ => None,
        };
        let (mgr, books, epoch, base) = match loaded {
            Some(s) => {
                let wall = now.saturating_sub(s.epoch_unix_ms);
                // Keep time monotonic even if the wall clock went back.
                let base = wall.max(s.manager.now().0);
                (s.manager, s.books, s.epoch_unix_ms, base)
            }
            None => (Manager::new(cfg.policy.clone()), BTreeMap::new(), now, 0),
        };
        let restarted = cfg.state_file.as_ref().is_some_and(|p| p.exists());
        let http = http::Http::new(cfg.request_timeout, cfg.ca_file.as_deref())?;
        let mut d = Driver {
            mgr,
            cfg: Arc::new(cfg),
            epoch_unix_ms: epoch,
            clock_base: base,
            started: Instant::now(),
            books,
            callbacks: Callbacks::default(),
            transfers: HashMap::new(),
            generation: 0,
            tx,
            rx,
            http,
            observer: None,
            dirty: true,
            last_persist: Instant::now(),
            _lock: lock,
            held: false,
            remote: Default::default(),
        };
        if restarted {
            // X2: active transfers go back to QUEUED; callbacks are gone.
            let now = d.now();
            d.mgr.handle_service_restart(now);
        }
        Ok(d)
    }

    /// Opens the queue to manage it, not to transfer: what `bitsim jobs`
    /// does to cancel, complete, resume or suspend a job of a persisted
    /// queue. It is [`Driver::open`] (the lock, the service restart X2),
    /// but the driver performs no transfer and runs no notification
    /// command line: the model's `StartTransfer` and `RunCommand` outputs
    /// are left undone, as if the service stopped right after the call.
    /// Every other effect happens (Cancel deletes temporary files and, for
    /// an upload with a server session, sends Cancel-Session; Complete
    /// renames). The model still counts a job it started as CONNECTING;
    /// the next driver to open the queue restarts it (X2) and transfers it.
    pub fn open_held(cfg: RtConfig) -> std::io::Result<Driver> {
        let mut d = Driver::open(cfg)?;
        d.held = true;
        Ok(d)
    }

    /// The wall-clock instant of time zero on the driver's clock, in
    /// milliseconds since 1970-01-01 UTC: `t` on that clock is the
    /// calendar instant `epoch_unix_ms() + t`. Kept in the state file, so
    /// it stays the same across restarts.
    pub fn epoch_unix_ms(&self) -> u64 {
        self.epoch_unix_ms
    }

    /// The current time on the driver's clock.
    pub fn now(&self) -> Time {
        Time(self.clock_base + self.started.elapsed().as_millis() as u64)
    }

    /// The model, read-only.
    pub fn manager(&self) -> &Manager {
        &self.mgr
    }

    /// Calls `observer` for every state change, progress report and
    /// callback, on the driver's task.
    pub fn set_observer(&mut self, observer: impl FnMut(&Manager, &RtEvent) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// A fresh random job id, from the operating system's generator (the
    /// simulator draws its ids from its seeded RNG instead, so that a run
    /// replays; the real-time driver needs ids unique across processes).
    pub fn new_job_id(&mut self) -> JobId {
        JobId(uuid::Uuid::new_v4())
    }

    /// Runs any model call at the current time, then acts on its outputs
    /// and persists the queue.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut Manager, Time) -> R) -> R {
        let now = self.now();
        let r = f(&mut self.mgr, now);
        self.dirty = true;
        self.drain();
        self.persist(true);
        r
    }

    /// Creates a download job of one file and resumes it.
    pub fn download(
        &mut self,
        caller: &Caller,
        url: &str,
        dest: impl AsRef<Path>,
    ) -> Result<JobId, bitsim_model::Error> {
        let id = self.new_job_id();
        let dest = absolute(dest.as_ref());
        self.call(|m, now| {
            m.create_job(now, caller, id, "bitsim download", JobType::Download)?;
            m.add_file(now, caller, id, url, &dest.to_string_lossy())?;
            Ok(id)
        })
    }

    /// Creates an upload (or, with `reply`, upload-reply) job of one file.
    /// The job stays SUSPENDED: set properties, then [`Manager::resume`].
    pub fn upload(
        &mut self,
        caller: &Caller,
        file: impl AsRef<Path>,
        url: &str,
        reply: Option<&Path>,
    ) -> Result<JobId, bitsim_model::Error> {
        let id = self.new_job_id();
        let src = absolute(file.as_ref());
        let kind = if reply.is_some() {
            JobType::UploadReply
        } else {
            JobType::Upload
        };
        self.call(|m, now| {
            m.create_job(now, caller, id, "bitsim upload", kind)?;
            m.add_file(now, caller, id, url, &src.to_string_lossy())?;
            if let Some(r) = reply {
                m.set_reply_file_name(now, caller, id, &absolute(r).to_string_lossy())?;
            }
            Ok(id)
        })
    }

    /// Registers `callback` as the job's notify interface (`SetNotifyInterface`).
    pub fn register_callback(
        &mut self,
        caller: &Caller,
        job: JobId,
        callback: Box<dyn Callback + Send>,
    ) -> Result<CallbackId, bitsim_model::Error> {
        let id = self.callbacks.register(callback);
        self.call(|m, now| m.set_notify_interface(now, caller, job, Some(id)))?;
        Ok(id)
    }

    /// `Complete`: renames every transferred temporary file to its final
    /// name (atomic rename beside the destination) \[COMPLETE\].
    pub fn complete(
        &mut self,
        caller: &Caller,
        job: JobId,
    ) -> Result<Hresult, bitsim_model::Error> {
        let snapshot = self.mgr.job(job).cloned();
        self.call(|m, now| {
            m.complete_with(now, caller, job, &mut |id, f| {
                let Some(j) = snapshot.as_ref() else {
                    return Err(Hresult::BG_E_NOT_FOUND);
                };
                publish(j, id, f)
            })
        })
    }

    /// Stops every transfer and writes the state file.
    pub fn shutdown(mut self) {
        for (_, (_, h)) in self.transfers.drain() {
            h.abort();
        }
        self.persist(true);
    }

    /// Runs the loop until `done` holds (true) or `timeout` passes (false).
    pub async fn run_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Manager) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.drain();
            self.persist(false);
            if done(&self.mgr) {
                self.persist(true);
                return true;
            }
            let now_i = tokio::time::Instant::now();
            if now_i >= deadline {
                self.persist(true);
                return false;
            }
            let mut wake = deadline.min(now_i + Duration::from_millis(500));
            if let Some(t) = self.mgr.poll_timeout() {
                let due = t.0.saturating_sub(self.now().0);
                wake = wake.min(now_i + Duration::from_millis(due));
            }
            tokio::select! {
                m = self.rx.recv() => {
                    if let Some(m) = m {
                        self.on_msg(m);
                        self.take_reports();
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            self.fire_due_timers();
        }
    }

    /// Feeds the model every report the transfer tasks have sent so far;
    /// whether there was one.
    fn take_reports(&mut self) -> bool {
        let mut any = false;
        while let Ok(m) = self.rx.try_recv() {
            self.on_msg(m);
            any = true;
        }
        any
    }

    /// Fires the model's timers when the next one is due by now; whether
    /// one was.
    fn fire_due_timers(&mut self) -> bool {
        match self.mgr.poll_timeout() {
            Some(t) if t <= self.now() => {
                let now = self.now();
                self.mgr.handle_timeout(now);
                self.dirty = true;
                true
            }
            _ => false,
        }
    }

    /// Writes the state file atomically (temp + fsync + rename); `force`
    /// skips the rate limit used for progress-only changes.
    fn persist(&mut self, force: bool) {
        if !self.dirty || (!force && self.last_persist.elapsed() < Duration::from_millis(500)) {
            return;
        }
        let Some(path) = self.cfg.state_file.clone() else {
            self.dirty = false;
            return;
        };
        let state = StateFile {
            epoch_unix_ms: self.epoch_unix_ms,
            manager: self.mgr.clone(),
            books: self.books.clone(),
        };
        let r = serde_json::to_vec(&state)
            .map_err(std::io::Error::from)
            .and_then(|bytes| queue::write_atomically(&path, &bytes));
        match r {
            Ok(()) => {
                self.dirty = false;
                self.last_persist = Instant::now();
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "persisting the queue failed")
            }
        }
    }

    fn observe(&mut self, e: RtEvent) {
        if let Some(o) = self.observer.as_mut() {
            o(&self.mgr, &e);
        }
    }

    fn on_msg(&mut self, m: Msg) {
        let now = self.now();
        let job = m.job;
        self.dirty = true;
        match m.ev {
            Ev::CommandDone(id, outcome) => {
                self.mgr.handle_command_result(now, id, outcome);
                return;
            }
            Ev::UploadCancelled => {
                self.mgr.handle_upload_cancelled(now, job);
                return;
            }
            Ev::CallbackDone(id, hr) => {
                self.mgr.handle_callback_result(now, id, hr);
                return;
            }
            _ => {}
        }
        if self
            .transfers
            .get(&job)
            .is_none_or(|(g, _)| *g != m.generation)
        {
            return; // a stopped transfer's late report
        }
        match m.ev {
            Ev::Connected => {
                self.mgr.handle_connected(now, job);
            }
            Ev::Size(FileRef::File(i), size) => {
                self.mgr.handle_file_size(now, job, i, size);
            }
            Ev::Size(FileRef::Reply, _) => {}
            Ev::Progress(f, bytes, total) => {
                match f {
                    FileRef::File(i) => {
                        self.mgr.handle_progress(now, job, i, bytes);
                    }
                    FileRef::Reply => {
                        self.mgr.handle_reply_progress(now, job, bytes, total);
                    }
                }
                self.observe(RtEvent::Progress {
                    job,
                    file: f,
                    bytes,
                    total,
                });
            }
            Ev::FileReset(f) => {
                if let FileRef::File(i) = f {
                    self.mgr.handle_file_reset(now, job, i);
                }
                self.observe(RtEvent::FileRestarted { job, file: f });
            }
            Ev::Stamp(f, s) => {
                self.books.entry(job).or_default().stamps.insert(key(f), s);
            }
            Ev::UploadStamp(s) => {
                self.books.entry(job).or_default().upload.get_or_insert(s);
            }
            Ev::Session(s) => {
                self.books.entry(job).or_default().session = s;
                self.persist(true);
            }
            Ev::ReplyUrl(u) => {
                self.books.entry(job).or_default().reply_url = Some(u);
            }
            Ev::FileDone(f, data) => {
                self.transfers.remove(&job);
                match f {
                    FileRef::File(i) => {
                        self.mgr.handle_file_done(now, job, i);
                    }
                    FileRef::Reply => {
                        self.mgr.handle_reply_done(now, job, data);
                    }
                }
            }
            Ev::Error(e) => {
                self.transfers.remove(&job);
                tracing::info!(job = %job.0, code = %e.code, context = ?e.context, "transfer failed");
                self.mgr.handle_transfer_error(now, job, e);
            }
            Ev::UploadCancelled | Ev::CommandDone(..) | Ev::CallbackDone(..) => {}
        }
    }

    fn drain(&mut self) {
        crate::engine::drain(self, |d| {
            d.dirty = true;
            &mut d.mgr
        });
    }

    fn temp_of(&self, job: JobId, file: FileRef) -> Option<PathBuf> {
        let j = self.mgr.job(job)?;
        match file {
            FileRef::File(i) => {
                let f = j.files.get(i)?;
                Some(temp_path(Path::new(&f.local_name), job, file))
            }
            FileRef::Reply => Some(reply_temp(j, job)),
        }
    }

    fn stop(&mut self, job: JobId) {
        if let Some((_, h)) = self.transfers.remove(&job) {
            h.abort();
        }
    }

    fn task(&mut self, job: JobId) -> Task {
        self.generation += 1;
        Task {
            job,
            generation: self.generation,
            tx: self.tx.clone(),
            http: self.http.clone(),
            cfg: self.cfg.clone(),
        }
    }

    fn start(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.stop(job);
        if self.held {
            tracing::debug!(job = %job.0, "transfer not started: the queue is open to manage it");
            return;
        }
        let Some(j) = self.mgr.job(job).cloned() else {
            return;
        };
        let book = self.books.get(&job).cloned().unwrap_or_default();
        let t = self.task(job);
        let generation = t.generation;
        // The model's rule (decision A28): no new post after a 403 from the
        // server application; the error is reported without touching the
        // network.
        let refusal = self.mgr.server_application_refusal(job);
        let handle = match (j.job_type, file, refusal) {
            (JobType::UploadReply, FileRef::File(_), Some(e)) => {
                tokio::spawn(async move { t.send(Ev::Error(e)) })
            }
            (JobType::Download, FileRef::File(i), _) => {
                let Some(f) = j.files.get(i) else { return };
                let url = f.remote_name.clone();
                let temp = temp_path(Path::new(&f.local_name), job, file);
                let stamp = book.stamps.get(&i).cloned();
                tokio::spawn(async move {
                    let ev = match download::download(&t, file, &url, temp, offset, stamp).await {
                        Ok(_) => Ev::FileDone(file, None),
                        Err(e) => Ev::Error(e),
                    };
                    t.send(ev);
                })
            }
            (_, FileRef::File(_), _) => {
                let Some(f) = j.files.first() else { return };
                let url = f.remote_name.clone();
                let local = PathBuf::from(&f.local_name);
                let reply_mode = j.job_type == JobType::UploadReply;
                tokio::spawn(async move {
                    let r = upload::upload(
                        &t,
                        &url,
                        &local,
                        offset,
                        book.session,
                        book.upload,
                        reply_mode,
                    )
                    .await;
                    let ev = match r {
                        Ok(u) => {
                            if let Some(r) = u.reply_url {
                                t.send(Ev::ReplyUrl(http::resolve(&url, &r)));
                            }
                            Ev::FileDone(FileRef::File(0), None)
                        }
                        Err(e) => Ev::Error(e),
                    };
                    t.send(ev);
                })
            }
            (_, FileRef::Reply, _) => {
                let Some(f) = j.files.first() else { return };
                let upload_url = f.remote_name.clone();
                let temp = reply_temp(&j, job);
                let stamp = book.stamps.get(&REPLY_KEY).cloned();
                tokio::spawn(async move {
                    let ev = match reply(&t, &upload_url, book, temp, offset, stamp).await {
                        Ok(data) => Ev::FileDone(FileRef::Reply, data),
                        Err(e) => Ev::Error(e),
                    };
                    t.send(ev);
                })
            }
        };
        self.transfers
            .insert(job, (generation, handle.abort_handle()));
    }

    fn cancel_session(&mut self, job: JobId) {
        let session = self.books.get(&job).and_then(|b| b.session.clone());
        let url = self
            .mgr
            .job(job)
            .and_then(|j| j.files.first())
            .map(|f| f.remote_name.clone());
        let t = self.task(job);
        match (session, url) {
            (Some(s), Some(url)) => {
                tokio::spawn(async move {
                    upload::cancel(&t, &url, &s).await;
                    t.send(Ev::UploadCancelled);
                });
            }
            _ => t.send(Ev::UploadCancelled),
        }
    }

    fn deliver_notification(
        &mut self,
        id: NotificationId,
        job: JobId,
        caller: Caller,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        let now = self.now();
        let d = self
            .callbacks
            .deliver(&mut self.mgr, now, caller, callback, job, kind);
        let (hr, hold) = (d.hr(), d.hold());
        if hold.is_zero() {
            self.mgr.handle_callback_result(now, id, hr);
        } else {
            // `hold`: the call returns that much later, keeping one of the
            // user's notification slots busy meanwhile [CB]; the loop is
            // not blocked.
            let t = self.task(job);
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                t.send(Ev::CallbackDone(id, hr));
            });
        }
        self.observe(RtEvent::Callback {
            job,
            method: kind.method(),
            result: hr,
        });
    }

    fn run_program(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: &UserId,
        program: String,
        parameters: Option<String>,
    ) {
        if self.held {
            tracing::debug!(job = %job.0, "command line not run: the queue is open to manage it");
            return;
        }
        // [CMDLINE]: the program with its parameters, through the launcher
        // when there is one (launch::command).
        let mut c = tokio::process::Command::from(launch::command(
            self.cfg.launcher.as_ref(),
            &user.0,
            &program,
            parameters.as_deref(),
        ));
        let t = self.task(job);
        tokio::spawn(async move {
            let outcome = match c.status().await {
                Ok(s) => CommandOutcome::Exited(s.code().unwrap_or(-1)),
                Err(_) => CommandOutcome::FailedToStart(Hresult::E_FILE_NOT_FOUND_WIN32),
            };
            t.send(Ev::CommandDone(id, outcome));
        });
    }
}

/// The real-time driver's effects: real files, HTTP transfers on tokio
/// tasks, processes, and the observer.
impl Effects for Driver {
    fn transition(
        &mut self,
        job: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    ) {
        if rule != Rule::T16 {
            tracing::debug!(job = %job.0, ?rule, ?from, ?to, "transition");
            self.observe(RtEvent::Transition {
                job,
                rule,
                from,
                to,
                code,
            });
        }
    }

    fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.start(job, file, offset);
    }

    fn stop_transfer(&mut self, job: JobId) {
        self.stop(job);
    }

    fn notify(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        if self.remote.is_remote(callback) {
            // For Driver::poll_remote_notification.
            self.remote.queue(crate::engine::RemoteNotification {
                id,
                job,
                outstanding: self.mgr.outstanding_notifications(&user),
                user,
                callback,
                kind,
            });
            return;
        }
        self.deliver_notification(id, job, Caller::user(user.0), callback, kind);
    }

    fn run_command(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        _kind: NotifyKind,
    ) {
        self.run_program(id, job, &user, program, parameters);
    }

    fn delete_temp_file(&mut self, job: JobId, file: FileRef) {
        if let Some(p) = self.temp_of(job, file) {
            let _ = std::fs::remove_file(&p);
        }
    }

    fn file_published(&mut self, job: JobId, file: FileRef) {
        // Complete from a callback (JobHandle::complete) renames here;
        // Driver::complete already renamed, so this is a no-op then.
        if let Some(j) = self.mgr.job(job).cloned() {
            let _ = publish(&j, job, file);
        }
    }

    fn cancel_upload_session(&mut self, job: JobId) {
        self.cancel_session(job);
    }

    fn job_removed(&mut self, job: JobId) {
        self.stop(job);
        self.books.remove(&job);
    }
}

/// Downloads the reply from `BITS-Reply-URL`, then Close-Session
/// (\[W32-CLOSE\]: the reply must be fetched before Close-Session).
async fn reply(
    t: &Task,
    upload_url: &str,
    book: JobBook,
    temp: PathBuf,
    offset: u64,
    stamp: Option<Stamp>,
) -> Result<Option<Vec<u8>>, TransferError> {
    let Some(url) = book.reply_url.clone() else {
        // [MCBUP-3.1.5.2.4]: no reply URL in upload-reply mode is an error.
        return Err(TransferError::new(
            Hresult::BG_E_INVALID_SERVER_RESPONSE,
            ErrorContext::RemoteFile,
            Some(FileRef::Reply),
        ));
    };
    let size = download::download(t, FileRef::Reply, &url, temp.clone(), offset, stamp).await?;
    if let Some(s) = book.session.as_deref() {
        upload::close(t, upload_url, s).await?;
    }
    t.send(Ev::Session(None));
    // The model answers GetReplyData (BG_E_TOO_LARGE above its limit
    // [REPLYDATA]); bigger replies are only kept in the reply file.
    if size <= bitsim_model::MAX_REPLY_DATA {
        Ok(tokio::fs::read(&temp).await.ok())
    } else {
        Ok(None)
    }
}

fn reply_temp(j: &bitsim_model::Job, job: JobId) -> PathBuf {
    // The model names the reply at the first Resume when the application
    // did not (decision A32); a queue persisted before that rule gets the
    // same name here.
    let base = j
        .reply
        .as_ref()
        .and_then(|r| r.file_name.clone())
        .or_else(|| {
            j.files
                .first()
                .map(|f| bitsim_model::invented_reply_file_name(&f.local_name, job))
        })
        .map_or_else(|| std::env::temp_dir().join("reply"), PathBuf::from);
    temp_path(&base, job, FileRef::Reply)
}

/// Renames one temporary file to its final name \[COMPLETE\].
fn publish(j: &bitsim_model::Job, job: JobId, f: FileRef) -> Result<(), Hresult> {
    let (temp, dest) = match f {
        FileRef::File(i) => {
            let Some(file) = j.files.get(i) else {
                return Err(Hresult::E_INVALIDARG);
            };
            let dest = PathBuf::from(&file.local_name);
            (temp_path(&dest, job, f), dest)
        }
        FileRef::Reply => {
            let Some(name) = j.reply.as_ref().and_then(|r| r.file_name.clone()) else {
                let _ = std::fs::remove_file(reply_temp(j, job));
                return Ok(());
            };
            (reply_temp(j, job), PathBuf::from(name))
        }
    };
    if !temp.exists() && dest.exists() {
        return Ok(()); // already published
    }
    std::fs::rename(&temp, &dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Hresult::E_FILE_NOT_FOUND_WIN32,
        std::io::ErrorKind::PermissionDenied => Hresult::E_ACCESSDENIED,
        _ => Hresult::E_FAIL,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
