//! The sans-IO BITS service: jobs, users, scheduler, timers, notifications.
//!
//! Shape (quinn-proto): API calls and `handle_*` methods take the current
//! [`Time`] and mutate state; [`Manager::poll_output`] drains what the
//! driver must do or record; [`Manager::poll_timeout`] says when to call
//! [`Manager::handle_timeout`] next. Nothing here reads a clock, touches a
//! file, or draws a random number.

use crate::classify::{ErrorClass, classify};
use crate::error::{Error, Result};
use crate::hresult::Hresult;
use crate::job::*;
use crate::policy::Policy;
use crate::table::Rule;
use crate::types::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// `MAX_PATH` \[CMDLINE\] \[FILEINFO\].
const MAX_PATH: usize = 260;
/// SetNotifyCmdLine parameters limit \[CMDLINE\].
const MAX_CMD_PARAMS: usize = 4000;
/// Display name limit \[CREATEJOB\].
const MAX_DISPLAY_NAME: usize = 256;
/// Description limit \[WINE-JOB\].
const MAX_DESCRIPTION: usize = 1024;
/// Remote URL limit \[FILEINFO\] \[SETREMOTE\].
const MAX_URL: usize = 2200;
/// MinimumRetryDelay floor \[SETRETRY\].
const MIN_RETRY_FLOOR: Duration = Duration::from_secs(5);

/// Which callback method a notification calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NotifyKind {
    /// `IBackgroundCopyCallback::JobTransferred` \[JOBXFER\].
    JobTransferred,
    /// `IBackgroundCopyCallback::JobError` \[JOBERR\].
    JobError,
    /// `IBackgroundCopyCallback::JobModification` \[JOBMOD\].
    JobModification,
    /// `IBackgroundCopyCallback2::FileTransferred` \[FILEXFER\].
    FileTransferred(FileRef),
}

impl NotifyKind {
    /// The flag that enables this notification \[SETNOTIFY\].
    pub fn flag(self) -> NotifyFlags {
        match self {
            NotifyKind::JobTransferred => NotifyFlags::JOB_TRANSFERRED,
            NotifyKind::JobError => NotifyFlags::JOB_ERROR,
            NotifyKind::JobModification => NotifyFlags::JOB_MODIFICATION,
            NotifyKind::FileTransferred(_) => NotifyFlags::FILE_TRANSFERRED,
        }
    }
    /// The callback method name.
    pub fn method(self) -> &'static str {
        match self {
            NotifyKind::JobTransferred => "JobTransferred",
            NotifyKind::JobError => "JobError",
            NotifyKind::JobModification => "JobModification",
            NotifyKind::FileTransferred(_) => "FileTransferred",
        }
    }
    /// JobTransferred/JobError/FileTransferred run on higher-priority
    /// threads than JobModification \[CB\]: dispatched first.
    fn class(self) -> u8 {
        match self {
            NotifyKind::JobModification => 1,
            _ => 0,
        }
    }
    /// Whether a command line can carry this event: only TRANSFERRED and
    /// ERROR \[CMDLINE\].
    fn cmd_line_capable(self) -> bool {
        matches!(self, NotifyKind::JobTransferred | NotifyKind::JobError)
    }
}

/// Identifies one delivery, to match [`Manager::handle_callback_result`]
/// and [`Manager::handle_command_result`] to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(pub u64);

/// How a notification command line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// The program ran and exited with this code.
    Exited(i32),
    /// The program could not be started.
    FailedToStart(Hresult),
}

/// Timers the model arms (reported in [`Output::TimerArmed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerKind {
    /// MinimumRetryDelay (T23).
    Retry,
    /// NoProgressTimeout (T24).
    NoProgress,
    /// Re-call of a notification that failed.
    NotificationRetry,
}

/// An error the transport reports with [`Manager::handle_transfer_error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferError {
    /// The HRESULT (`BG_E_HTTP_ERROR_404`, `BG_E_CONNECT_FAILURE`, ...).
    pub code: Hresult,
    /// The `BG_ERROR_CONTEXT`.
    pub context: ErrorContext,
    /// The file involved, if any.
    pub file: Option<FileRef>,
    /// Forces the class; `None` lets the model classify ([`classify`]).
    pub class: Option<ErrorClass>,
}

impl TransferError {
    /// An error the model classifies itself.
    pub fn new(code: Hresult, context: ErrorContext, file: Option<FileRef>) -> Self {
        TransferError {
            code,
            context,
            file,
            class: None,
        }
    }
    /// An HTTP status on a file: `BG_E_HTTP_ERROR_xxx`, context REMOTE_FILE.
    pub fn http(status: u16, file: FileRef) -> Self {
        Self::new(Hresult::http(status), ErrorContext::RemoteFile, Some(file))
    }
}

/// What the driver must do or record, drained by [`Manager::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// A rule of the transition table fired.
    Transition {
        /// When.
        at: Time,
        /// Which job.
        job: JobId,
        /// The row.
        rule: Rule,
        /// State before.
        from: JobState,
        /// State after (equal to `from` for rules that keep the state).
        to: JobState,
        /// The error recorded, for rules that enter ERROR/TRANSIENT_ERROR.
        code: Option<Hresult>,
    },
    /// Start (or continue) moving bytes of this file from `offset`.
    StartTransfer {
        /// Which job.
        job: JobId,
        /// Which file (`Reply` = download the upload-reply's reply).
        file: FileRef,
        /// Resume offset.
        offset: u64,
    },
    /// Stop moving bytes for this job (suspend, cancel, preempt, ...).
    StopTransfer {
        /// Which job.
        job: JobId,
    },
    /// Call the registered callback.
    Notify {
        /// Delivery id for [`Manager::handle_callback_result`].
        id: NotificationId,
        /// Which job.
        job: JobId,
        /// The user whose slot it takes (the registrant).
        user: UserId,
        /// The registered object.
        callback: CallbackId,
        /// Which method.
        kind: NotifyKind,
    },
    /// Run the notification command line \[CMDLINE\].
    RunCommand {
        /// Delivery id for [`Manager::handle_command_result`].
        id: NotificationId,
        /// Which job.
        job: JobId,
        /// Runs as this user.
        user: UserId,
        /// Program.
        program: String,
        /// Parameters.
        parameters: Option<String>,
        /// The event it stands for.
        kind: NotifyKind,
    },
    /// Delete the temporary file of this file (Cancel, partial Complete, inactivity).
    DeleteTempFile {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
    },
    /// Complete renamed this file's temporary file to its final name.
    FilePublished {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
    },
    /// Tell the server to drop the upload session (Cancel-Session) \[CANCEL\].
    CancelUploadSession {
        /// Which job.
        job: JobId,
    },
    /// A timer was armed.
    TimerArmed {
        /// Which job.
        job: JobId,
        /// Which timer.
        timer: TimerKind,
        /// When it fires.
        at: Time,
    },
    /// The job left the queue for good.
    JobRemoved {
        /// Which job.
        job: JobId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    job: JobId,
    kind: NotifyKind,
    not_before: Time,
    /// The callback failed and the command line took over: the callback is
    /// not called again for this event \[JOBXFER\] \[JOBERR\].
    via_cmd_line: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InFlight {
    job: JobId,
    kind: NotifyKind,
    user: UserId,
    via_cmd_line: bool,
    /// The pending key the event was raised under: a re-call keeps it, so
    /// a failed FileTransferred still goes before the events raised after
    /// it \[FILEXFER\].
    #[serde(default)]
    key: u64,
}

/// The BITS service of one machine: every user's jobs, the scheduler,
/// timers and the notification dispatcher. Serializable: a persisted
/// `Manager` is the queue that survives a service restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    policy: Policy,
    now: Time,
    /// Every job, in creation order (enumeration order, FIFO tie-breaks).
    jobs: JobTable,
    logged_off: BTreeSet<UserId>,
    network_up: bool,
    next_seq: u64,
    next_notification: u64,
    pending: BTreeMap<u64, Pending>,
    in_flight: BTreeMap<NotificationId, InFlight>,
    last_modification_dispatch: BTreeMap<JobId, Time>,
    /// Non-final jobs, in creation order: every scan of the scheduler and
    /// the timers walks these, not the finished jobs kept for held views.
    live: BTreeSet<(u64, JobId)>,
    /// Cancelled uploads still telling the server (X3), in creation order.
    lingering: BTreeSet<(u64, JobId)>,
    /// When the scheduler must run again (derived; not persisted, not compared).
    #[serde(skip)]
    sched: SchedCache,
    #[serde(skip)]
    outputs: VecDeque<Output>,
}

impl Default for Manager {
    fn default() -> Self {
        Manager::new(Policy::default())
    }
}

impl Manager {
    /// An empty service with this policy, network up, everyone logged on.
    pub fn new(policy: Policy) -> Manager {
        Manager {
            policy,
            now: Time::ZERO,
            jobs: JobTable::default(),
            logged_off: BTreeSet::new(),
            network_up: true,
            next_seq: 0,
            next_notification: 0,
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            last_modification_dispatch: BTreeMap::new(),
            outputs: VecDeque::new(),
            live: BTreeSet::new(),
            lingering: BTreeSet::new(),
            sched: SchedCache::default(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The latest time the model has seen.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Is the network up?
    pub fn network_up(&self) -> bool {
        self.network_up
    }

    /// Is `user` logged on? Users are logged on unless told otherwise.
    pub fn is_logged_on(&self, user: &UserId) -> bool {
        !self.logged_off.contains(user)
    }

    /// A job by id, without access checks, including finished ones (a held
    /// interface pointer keeps working: decision A16).
    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Every job ever created, in creation order, including finished ones.
    pub fn all_jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// Notifications delivered and not yet answered, for `user`.
    pub fn outstanding_notifications(&self, user: &UserId) -> usize {
        self.in_flight.values().filter(|f| &f.user == user).count()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Manager::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Option<Time>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Time| n.min(t)));
            }
        };
        // One pass over the live jobs: their own deadlines, which priorities
        // have someone waiting, and the running background job's slice end
        // (which matters only if someone of its priority waits).
        let mut waits = [false; 4];
        let mut slice: Option<(JobPriority, Time)> = None;
        for &(seq, _) in self.live.iter().chain(&self.lingering) {
            let job = self.jobs.by_seq(seq);
            if self.eligible(job) {
                waits[job.priority.as_u32() as usize] = true;
            }
            if job.priority != JobPriority::Foreground && job.state.is_active() {
                slice = job.timers.slice_end.map(|t| (job.priority, t));
            }
            consider(self.job_deadline(job));
        }
        if let Some((p, t)) = slice
            && waits[p.as_u32() as usize]
        {
            consider(Some(t));
        }
        for p in self.pending.values() {
            if p.not_before > self.now {
                consider(Some(p.not_before));
            }
        }
        consider(self.next_policy_boundary());
        next
    }

    // ------------------------------------------------------------------
    // IBackgroundCopyManager
    // ------------------------------------------------------------------

    /// `CreateJob` (T1). The driver supplies the GUID. Errors:
    /// `E_INVALIDARG` for a display name over 256 characters \[CREATEJOB\] or a
    /// GUID in use; `BG_E_TOO_MANY_JOBS_PER_USER` / `_PER_MACHINE` over the
    /// policy limits, admins exempt \[GP\] \[CREATEJOB\].
    pub fn create_job(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        display_name: &str,
        job_type: JobType,
    ) -> Result<JobId> {
        self.advance(now);
        if display_name.chars().count() > MAX_DISPLAY_NAME || self.jobs.contains_key(&id) {
            return Err(Error::new(Hresult::E_INVALIDARG));
        }
        if !caller.admin {
            let live = self.live_jobs();
            let (mut mine, mut all) = (0u32, 0u32);
            for j in live {
                all += 1;
                if j.owner == caller.user {
                    mine += 1;
                }
            }
            if mine >= self.policy.max_jobs_per_user {
                return Err(Error::new(Hresult::BG_E_TOO_MANY_JOBS_PER_USER));
            }
            if all >= self.policy.max_jobs_per_machine {
                return Err(Error::new(Hresult::BG_E_TOO_MANY_JOBS_PER_MACHINE));
            }
        }
        let job = Job {
            id,
            display_name: display_name.to_owned(),
            description: String::new(),
            job_type,
            owner: caller.user.clone(),
            state: JobState::Suspended,
            priority: JobPriority::Normal,
            files: Vec::new(),
            notify_flags: NotifyFlags::DEFAULT,
            notify_interface: None,
            notify_cmd_line: None,
            minimum_retry_delay: Duration::from_secs(600),
            no_progress_timeout: Duration::from_secs(14 * 86_400),
            maximum_download_time: self.policy.max_download_time,
            error: None,
            error_count: 0,
            times: JobTimes {
                creation_time: now,
                modification_time: now,
                transfer_completion_time: None,
            },
            reply: (job_type == JobType::UploadReply).then(|| Reply {
                bytes_total: BG_SIZE_UNKNOWN,
                ..Reply::default()
            }),
            current_file: 0,
            blocked: None,
            timers: JobTimers {
                last_activity: now,
                ..JobTimers::default()
            },
            queue_seq: 0,
            removed: false,
            files_added_after_transfer: false,
            cancelling_upload: false,
            started: false,
            creation_seq: self.jobs.len() as u64,
        };
        self.live.insert((job.creation_seq, id));
        self.jobs.insert(id, job);
        self.emit_transition(id, Rule::T1, JobState::Suspended, JobState::Suspended, None);
        self.settle();
        Ok(id)
    }

    /// `GetJob`: `BG_E_NOT_FOUND` for unknown or finished jobs (decision
    /// A16), `E_ACCESSDENIED` for another user's job unless admin \[GETJOB\].
    pub fn get_job(&self, caller: &Caller, id: JobId) -> Result<&Job> {
        let job = self.jobs.get(&id).filter(|j| !j.removed);
        let job = job.ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        if job.owner != caller.user && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        Ok(job)
    }

    /// `EnumJobs`: the caller's jobs, or every user's with
    /// [`BG_JOB_ENUM_ALL_USERS`] (admin only, else `E_ACCESSDENIED`)
    /// \[ENUMJOBS\]. Finished jobs are not listed \[LC\]. Order: creation order
    /// (BITS leaves it arbitrary).
    pub fn enum_jobs(&self, caller: &Caller, flags: u32) -> Result<Vec<JobId>> {
        if flags & !BG_JOB_ENUM_ALL_USERS != 0 {
            return Err(Error::new(Hresult::E_INVALIDARG));
        }
        let all = flags & BG_JOB_ENUM_ALL_USERS != 0;
        if all && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        Ok(self
            .all_jobs()
            .filter(|j| !j.removed && (all || j.owner == caller.user))
            .map(|j| j.id)
            .collect())
    }

    // ------------------------------------------------------------------
    // IBackgroundCopyJob..Job5
    // ------------------------------------------------------------------

    /// `AddFile`. Download jobs take many files (MaxFilesPerJob, admins
    /// exempt → `BG_E_TOO_MANY_FILES_IN_JOB` \[ADDFILE\]); upload jobs take one
    /// (`BG_E_TOO_MANY_FILES` \[ADDFILE\]). Bad names → `E_INVALIDARG`
    /// \[FILEINFO\]. Final jobs → `BG_E_INVALID_STATE`. The state does not
    /// change (X4, decision A3).
    pub fn add_file(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
    ) -> Result<()> {
        self.add_file_inner(now, caller, id, remote, local, None)
    }

    /// `IBackgroundCopyJob3::AddFileWithRanges` \[ADDRANGES\]: download jobs
    /// only (`E_NOTIMPL`); no ranges → `E_INVALIDARG`; over
    /// MaxRangesPerFile → `BG_E_TOO_MANY_RANGES_IN_FILE`; overlapping →
    /// `BG_E_OVERLAPPING_RANGES`; zero-length → `BG_E_INVALID_RANGE`.
    pub fn add_file_with_ranges(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
        ranges: &[ByteRange],
    ) -> Result<()> {
        self.add_file_inner(now, caller, id, remote, local, Some(ranges))
    }

    fn add_file_inner(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
        ranges: Option<&[ByteRange]>,
    ) -> Result<()> {
        self.advance(now);
        let max_files = self.policy.max_files_per_job;
        let max_ranges = self.policy.max_ranges_per_file;
        let job = self.job_for_change(caller, id)?;
        if ranges.is_some() && job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        validate_remote(remote, job.job_type)?;
        validate_local(local)?;
        if job.job_type.is_upload() && !job.files.is_empty() {
            return Err(Error::new(Hresult::BG_E_TOO_MANY_FILES));
        }
        if !caller.admin && job.files.len() as u32 >= max_files {
            return Err(Error::new(Hresult::BG_E_TOO_MANY_FILES_IN_JOB));
        }
        let mut total = BG_SIZE_UNKNOWN;
        if let Some(ranges) = ranges {
            validate_ranges(ranges, max_ranges, caller.admin)?;
            if ranges.iter().all(|r| r.length != BG_LENGTH_TO_EOF) {
                total = ranges.iter().map(|r| r.length).sum();
            }
        }
        let job = self.jobs.get_mut(&id).expect("checked above");
        job.files.push(FileEntry {
            remote_name: remote.to_owned(),
            local_name: local.to_owned(),
            ranges: ranges.map(<[ByteRange]>::to_vec),
            bytes_total: total,
            bytes_transferred: 0,
            transferred: false,
            completed: false,
            has_temp: false,
        });
        if job.state == JobState::Transferred {
            job.files_added_after_transfer = true;
        }
        let st = job.state;
        self.emit_transition(id, Rule::X4, st, st, None);
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyFile2::SetRemoteName` (T34): download jobs only
    /// (`E_NOTIMPL` \[SETREMOTE\]); takes effect at the file's next transfer.
    pub fn set_remote_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        file: usize,
        remote: &str,
    ) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        validate_remote(remote, job.job_type)?;
        let job = self.jobs.get_mut(&id).expect("checked");
        let f = job
            .files
            .get_mut(file)
            .ok_or(Error::new(Hresult::E_INVALIDARG))?;
        f.remote_name = remote.to_owned();
        let st = job.state;
        self.emit_transition(id, Rule::T34, st, st, None);
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Resume` (T2-T7) \[RESUME\] \[LC\].
    pub fn resume(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        let st = job.state;
        let empty = job.files.is_empty();
        let added = job.files_added_after_transfer;
        match st {
            JobState::Suspended if empty => {
                // T3: BG_E_EMPTY, still SUSPENDED [RESUME] [WINE-TJOB].
                self.emit_transition(id, Rule::T3, st, st, None);
                return Err(Error::new(Hresult::BG_E_EMPTY));
            }
            JobState::Suspended => {
                self.fire(id, Rule::T2, None);
            }
            JobState::Error => {
                // A fresh start after the app fixed the cause: the
                // no-progress clock restarts (decision A7).
                self.jobs
                    .get_mut(&id)
                    .expect("live")
                    .timers
                    .no_progress_since = None;
                self.fire(id, Rule::T4, None);
            }
            JobState::TransientError => self.fire(id, Rule::T5, None),
            JobState::Queued | JobState::Connecting | JobState::Transferring => {
                self.emit_transition(id, Rule::T6, st, st, None)
            }
            JobState::Transferred if added => self.fire(id, Rule::T7, None),
            // Decision A2: Resume of a TRANSFERRED job with nothing new: S_OK, no change.
            JobState::Transferred => {}
            JobState::Acknowledged | JobState::Cancelled => {
                unreachable!("job_for_change refuses final jobs")
            }
        }
        // Resume restarts the MaximumDownloadTime budget [SETMAXDL].
        let job = self.jobs.get_mut(&id).expect("live");
        job.timers.active_used_ms = 0;
        if job.timers.active_since.is_some() {
            job.timers.active_since = Some(self.now);
        }
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Suspend` (T8) \[SUSPEND\]. ERROR and TRANSFERRED jobs are already
    /// "automatically suspended" and stay as they are (decision A1).
    pub fn suspend(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        let st = self.job_for_change(caller, id)?.state;
        if Rule::T8.fires_from(st) {
            self.fire(id, Rule::T8, None);
        }
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Cancel` (T9) \[CANCEL\]: temp files deleted; an unfinished upload
    /// tells the server (Cancel-Session) and lingers out of sight up to 24 h
    /// (X3, decision A22); a finished upload's server file is untouched; an
    /// upload-reply job's reply request is cancelled \[COMPLCAN\].
    pub fn cancel(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<Hresult> {
        self.advance(now);
        self.job_for_change(caller, id)?;
        self.cancel_job(id, Rule::T9);
        self.settle();
        Ok(Hresult::S_OK)
    }

    /// `Complete` with every rename succeeding. See [`Manager::complete_with`].
    pub fn complete(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<Hresult> {
        self.complete_with(now, caller, id, &mut |_, _| Ok(()))
    }

    /// `Complete` (T10-T12) \[COMPLETE\]. `publish` renames one temporary file
    /// to its final name (the driver's IO); if it fails the call returns
    /// that error and the job keeps its state (T11, decision A18).
    ///
    /// Downloads: any non-final state; `S_OK` if every file was transferred,
    /// `BG_S_PARTIAL_COMPLETE` if only some (the rest are deleted).
    /// Uploads: only from TRANSFERRED, else `BG_E_INVALID_STATE` \[COMPLETE\].
    pub fn complete_with(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        publish: &mut dyn FnMut(JobId, FileRef) -> std::result::Result<(), Hresult>,
    ) -> Result<Hresult> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            if job.state != JobState::Transferred {
                return Err(Error::new(Hresult::BG_E_INVALID_STATE));
            }
            if job.job_type == JobType::UploadReply {
                if let Err(code) = publish(id, FileRef::Reply) {
                    // T11: the rename error, state unchanged (decision A18).
                    let st = job.state;
                    self.emit_transition(id, Rule::T11, st, st, Some(code));
                    self.touch(id, true);
                    self.settle();
                    return Err(Error::new(code));
                }
                self.outputs.push_back(Output::FilePublished {
                    job: id,
                    file: FileRef::Reply,
                });
            }
            self.fire(id, Rule::T12, None);
            self.finish(id);
            self.settle();
            return Ok(Hresult::S_OK);
        }
        let to_publish: Vec<usize> = job
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.transferred && !f.completed)
            .map(|(i, _)| i)
            .collect();
        let partial = job.files.iter().any(|f| !f.transferred);
        for i in to_publish {
            if let Err(code) = publish(id, FileRef::File(i)) {
                let st = self.jobs[&id].state;
                self.emit_transition(id, Rule::T11, st, st, Some(code));
                self.touch(id, true);
                self.settle();
                return Err(Error::new(code));
            }
            self.jobs.get_mut(&id).expect("live").files[i].completed = true;
            self.outputs.push_back(Output::FilePublished {
                job: id,
                file: FileRef::File(i),
            });
        }
        self.stop_if_active(id);
        let incomplete: Vec<usize> = self.jobs[&id]
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.transferred && f.has_temp)
            .map(|(i, _)| i)
            .collect();
        for i in incomplete {
            self.outputs.push_back(Output::DeleteTempFile {
                job: id,
                file: FileRef::File(i),
            });
            self.jobs.get_mut(&id).expect("live").files[i].has_temp = false;
        }
        self.fire(id, Rule::T10, None);
        self.finish(id);
        self.settle();
        Ok(if partial {
            Hresult::BG_S_PARTIAL_COMPLETE
        } else {
            Hresult::S_OK
        })
    }

    /// `SetPriority` \[SETPRIO\].
    pub fn set_priority(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        priority: JobPriority,
    ) -> Result<()> {
        self.set_priority_raw(now, caller, id, priority.as_u32())
    }

    /// `SetPriority` with the raw value: outside the enum → `E_NOTIMPL` \[SETPRIO\].
    pub fn set_priority_raw(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        priority: u32,
    ) -> Result<()> {
        self.sched.dirty = true;
        self.set_property(now, caller, id, |job| {
            job.priority = JobPriority::from_u32(priority).ok_or(Error::new(Hresult::E_NOTIMPL))?;
            Ok(())
        })
    }

    /// `SetNotifyFlags`: unknown bits → `E_NOTIMPL` \[SETNOTIFY\]. Level-triggered
    /// events are re-raised \[CB\].
    pub fn set_notify_flags(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        flags: u32,
    ) -> Result<()> {
        let mut newly = false;
        self.set_property(now, caller, id, |job| {
            if flags & !NotifyFlags::ALL_BITS != 0 {
                return Err(Error::new(Hresult::E_NOTIMPL));
            }
            // Newly *effective*: a bit just set, or DISABLE just cleared
            // under bits already set [SETNOTIFY].
            let (old, new) = (job.notify_flags, NotifyFlags(flags));
            newly = [NotifyFlags::JOB_TRANSFERRED, NotifyFlags::JOB_ERROR]
                .into_iter()
                .any(|f| new.wants(f) && !old.wants(f));
            job.notify_flags = new;
            Ok(())
        })?;
        if newly {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `SetNotifyInterface`: the last registrant wins; `None` clears.
    /// Registering after the event still notifies (level-triggered) \[SETNOTIFYIF\] \[CB\].
    pub fn set_notify_interface(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        callback: Option<CallbackId>,
    ) -> Result<()> {
        let user = caller.user.clone();
        self.set_property(now, caller, id, |job| {
            job.notify_interface = callback.map(|callback| Registration { callback, user });
            Ok(())
        })?;
        if callback.is_some() {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyJob2::SetNotifyCmdLine` \[CMDLINE\]: both `None`
    /// removes it; program `None` with parameters → `E_INVALIDARG`; program
    /// over MAX_PATH or parameters over 4,000 characters →
    /// `BG_E_STRING_TOO_LONG`.
    pub fn set_notify_cmd_line(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<()> {
        let user = caller.user.clone();
        self.set_property(now, caller, id, |job| {
            job.notify_cmd_line = match (program, parameters) {
                (None, None) => None,
                (None, Some(_)) => return Err(Error::new(Hresult::E_INVALIDARG)),
                (Some(p), params) => {
                    if p.chars().count() > MAX_PATH
                        || params.is_some_and(|s| s.chars().count() > MAX_CMD_PARAMS)
                    {
                        return Err(Error::new(Hresult::BG_E_STRING_TOO_LONG));
                    }
                    if p.is_empty() {
                        return Err(Error::new(Hresult::E_INVALIDARG));
                    }
                    Some(CmdLine {
                        program: p.to_owned(),
                        parameters: params.map(str::to_owned),
                        user,
                    })
                }
            };
            Ok(())
        })?;
        if program.is_some() {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `SetMinimumRetryDelay`: values under 5 s are raised to 5 s \[SETRETRY\].
    pub fn set_minimum_retry_delay(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.minimum_retry_delay = Duration::from_secs(seconds.into()).max(MIN_RETRY_FLOOR);
            Ok(())
        })
    }

    /// `SetNoProgressTimeout`: 0 makes every error fatal (T26) \[SETNOPROG\].
    pub fn set_no_progress_timeout(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.no_progress_timeout = Duration::from_secs(seconds.into());
            Ok(())
        })
    }

    /// `IBackgroundCopyJob4::SetMaximumDownloadTime` \[SETMAXDL\]; 0 removes the limit.
    pub fn set_maximum_download_time(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.maximum_download_time = Duration::from_secs(seconds.into());
            Ok(())
        })
    }

    /// `SetDisplayName`: over 256 characters → `E_INVALIDARG` \[CREATEJOB\].
    pub fn set_display_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        name: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            if name.chars().count() > MAX_DISPLAY_NAME {
                return Err(Error::new(Hresult::E_INVALIDARG));
            }
            job.display_name = name.to_owned();
            Ok(())
        })
    }

    /// `SetDescription`: over 1,024 characters → `BG_E_STRING_TOO_LONG` \[WINE-JOB\].
    pub fn set_description(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        text: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            if text.chars().count() > MAX_DESCRIPTION {
                return Err(Error::new(Hresult::BG_E_STRING_TOO_LONG));
            }
            job.description = text.to_owned();
            Ok(())
        })
    }

    /// `IBackgroundCopyJob2::SetReplyFileName` \[REPLYFILE\]: upload-reply only
    /// (`E_NOTIMPL`); `BG_E_INVALID_STATE` once the reply has begun.
    pub fn set_reply_file_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        name: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            let reply = job.reply.as_mut().ok_or(Error::new(Hresult::E_NOTIMPL))?;
            if reply.bytes_total != BG_SIZE_UNKNOWN {
                return Err(Error::new(Hresult::BG_E_INVALID_STATE));
            }
            validate_local(name)?;
            reply.file_name = Some(name.to_owned());
            Ok(())
        })
    }

    /// `TakeOwnership` (T33) \[TAKEOWN\]: admin only (`E_ACCESSDENIED`); the
    /// command line is removed; the job runs only while the new owner is
    /// logged on; a registered callback keeps running as its registrant.
    pub fn take_ownership(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        self.sched.dirty = true;
        if !caller.admin {
            self.job_for_change(caller, id)?;
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        self.job_for_change(caller, id)?;
        let job = self.jobs.get_mut(&id).expect("checked");
        job.owner = caller.user.clone();
        job.notify_cmd_line = None;
        let st = job.state;
        self.emit_transition(id, Rule::T33, st, st, None);
        self.touch(id, true);
        // The new owner may be logged off: the scheduler re-evaluates.
        if st.is_active() && !self.is_logged_on(&caller.user) {
            self.fire(id, Rule::T19, None);
        }
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyFile3::SetValidationState` (T32) \[JOBXFER\]
    /// \[FILEXFER\]: `false` on a transferred download file puts the job in
    /// ERROR with `BG_E_VALIDATION_FAILED` (content from the origin server).
    pub fn set_validation_state(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        file: usize,
        valid: bool,
    ) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        let f = job
            .files
            .get(file)
            .ok_or(Error::new(Hresult::E_INVALIDARG))?;
        if !f.transferred || !Rule::T32.fires_from(job.state) {
            return Err(Error::new(Hresult::BG_E_INVALID_STATE));
        }
        if !valid {
            let job = self.jobs.get_mut(&id).expect("checked");
            let f = &mut job.files[file];
            f.transferred = false;
            f.bytes_transferred = 0;
            job.current_file = job.current_file.min(file);
            job.error_count += 1;
            let err = ErrorInfo {
                context: ErrorContext::RemoteFile,
                code: Hresult::BG_E_VALIDATION_FAILED,
                file: Some(FileRef::File(file)),
                protocol: Some("http".into()),
            };
            self.fire(id, Rule::T32, Some(err));
            // Entering ERROR raises JobError and no JobModification [JOBMOD].
            self.touch_quiet(id);
        } else {
            self.touch(id, true);
        }
        self.settle();
        Ok(())
    }

    // ------------------------------------------------------------------
    // Transport events
    // ------------------------------------------------------------------

    /// The transport reached the server (T14). Ignored unless CONNECTING.
    pub fn handle_connected(&mut self, now: Time, id: JobId) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Connecting) {
            return false;
        }
        self.fire(id, Rule::T14, None);
        self.settle();
        true
    }

    /// The size of a file became known (HEAD, or the upload source's size).
    pub fn handle_file_size(&mut self, now: Time, id: JobId, file: usize, size: u64) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.state.is_final()) else {
            return false;
        };
        // A finished file is not redone [SETREMOTE]: its size stands.
        let Some(f) = job.files.get_mut(file).filter(|f| !f.transferred) else {
            return false;
        };
        if f.ranges.is_none() {
            f.bytes_total = size;
            if f.bytes_transferred > size {
                f.bytes_transferred = 0;
            }
        }
        true
    }

    /// `bytes` of `file` have now moved in total (T16). Progress resets the
    /// no-progress clock \[SETNOPROG\] and counts as activity \[GP\]. Ignored
    /// unless TRANSFERRING; counts never go backwards.
    pub fn handle_progress(&mut self, now: Time, id: JobId, file: usize, bytes: u64) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let job = self.jobs.get_mut(&id).expect("live");
        let Some(f) = job.files.get_mut(file) else {
            return false;
        };
        let bytes = if f.bytes_total == BG_SIZE_UNKNOWN {
            bytes
        } else {
            bytes.min(f.bytes_total)
        };
        if bytes <= f.bytes_transferred {
            return false;
        }
        f.bytes_transferred = bytes;
        job.timers.no_progress_since = None;
        self.emit_transition(
            id,
            Rule::T16,
            JobState::Transferring,
            JobState::Transferring,
            None,
        );
        self.touch(id, true);
        self.settle();
        true
    }

    /// The remote file changed (size or Last-Modified): its counters drop
    /// back to 0 and it restarts \[FILEPROG\] \[SETREMOTE\].
    pub fn handle_file_reset(&mut self, now: Time, id: JobId, file: usize) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.state.is_final()) else {
            return false;
        };
        // Already-finished files are not redone [SETREMOTE] [REPLPREFIX]:
        // a TRANSFERRED job must not end up with a file left to move.
        let Some(f) = job.files.get_mut(file).filter(|f| !f.transferred) else {
            return false;
        };
        f.bytes_transferred = 0;
        f.transferred = false;
        f.bytes_total = BG_SIZE_UNKNOWN;
        job.current_file = job.current_file.min(file);
        true
    }

    /// Every byte of `file` moved (T17); then the next file starts, the
    /// reply begins (upload-reply), or the job is TRANSFERRED (T20).
    pub fn handle_file_done(&mut self, now: Time, id: JobId, file: usize) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let job = self.jobs.get_mut(&id).expect("live");
        let is_download = !job.job_type.is_upload();
        let Some(f) = job.files.get_mut(file) else {
            return false;
        };
        if f.transferred {
            return false;
        }
        f.transferred = true;
        if f.bytes_total == BG_SIZE_UNKNOWN {
            f.bytes_total = f.bytes_transferred;
        }
        f.bytes_transferred = f.bytes_total;
        if !is_download {
            // Uploads: Completed when the upload finished [FILEPROG].
            f.completed = true;
        }
        job.timers.no_progress_since = None;
        self.emit_transition(
            id,
            Rule::T17,
            JobState::Transferring,
            JobState::Transferring,
            None,
        );
        if is_download {
            // FileTransferred: download files and the reply only [FILEXFER].
            self.raise(id, NotifyKind::FileTransferred(FileRef::File(file)));
        }
        self.advance_job(id);
        self.touch_unless_transferred(id);
        self.settle();
        true
    }

    /// The reply of an upload-reply job is arriving: `bytes` of `total`.
    /// `BytesTotal` leaves `BG_SIZE_UNKNOWN` here \[REPLYPROGST\].
    pub fn handle_reply_progress(&mut self, now: Time, id: JobId, bytes: u64, total: u64) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let job = self.jobs.get_mut(&id).expect("live");
        let Some(reply) = job.reply.as_mut() else {
            return false;
        };
        if !job.files.first().is_some_and(|f| f.transferred) {
            return false;
        }
        let advanced = bytes > reply.bytes_transferred;
        if total != reply.bytes_total && reply.bytes_transferred > total {
            // A reply of another size than the one begun: it restarts, as a
            // file whose size changed does [FILEPROG]; progress never
            // exceeds the total [REPLYPROGST].
            reply.bytes_transferred = 0;
        }
        reply.bytes_total = total;
        reply.bytes_transferred = reply.bytes_transferred.max(bytes.min(total));
        if advanced {
            job.timers.no_progress_since = None;
            self.touch(id, true);
        }
        self.settle();
        true
    }

    /// The whole reply arrived: FileTransferred for the reply \[FILEXFER\],
    /// then TRANSFERRED (T20) \[LC-OLD\] \[JOBXFER\].
    pub fn handle_reply_done(&mut self, now: Time, id: JobId, data: Option<Vec<u8>>) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let job = self.jobs.get_mut(&id).expect("live");
        if !job.files.first().is_some_and(|f| f.transferred) {
            return false;
        }
        let Some(reply) = job.reply.as_mut() else {
            return false;
        };
        let len = data.as_ref().map_or(0, |d| d.len() as u64);
        reply.bytes_total = len;
        reply.bytes_transferred = len;
        reply.done = true;
        reply.data = data;
        self.raise(id, NotifyKind::FileTransferred(FileRef::Reply));
        self.advance_job(id);
        self.touch_unless_transferred(id);
        self.settle();
        true
    }

    /// The transport failed (T15, T21, T22, T25, T26). Ignored unless
    /// CONNECTING or TRANSFERRING.
    pub fn handle_transfer_error(&mut self, now: Time, id: JobId, error: TransferError) -> bool {
        self.advance(now);
        let Some(st) = self.state_of(id).filter(|s| s.is_active()) else {
            return false;
        };
        let class = error
            .class
            .unwrap_or_else(|| classify(error.code, error.context));
        let info = ErrorInfo {
            context: error.context,
            code: error.code,
            file: error.file,
            protocol: error.file.map(|_| "http".to_owned()),
        };
        let job = self.jobs.get_mut(&id).expect("live");
        // EC grows on leaving CONNECTING/TRANSFERRING for an error [ERRCOUNT]
        // (CONNECTING too: decision A21), except for disconnects, a locked
        // volume (chkdsk) and bandwidth-policy blocks [ERRCOUNT] (T21).
        if !matches!(
            error.code,
            Hresult::BG_E_NETWORK_DISCONNECTED
                | Hresult::BG_E_DESTINATION_LOCKED
                | Hresult::BG_E_BLOCKED_BY_POLICY
        ) {
            job.error_count += 1;
        }
        if job.no_progress_timeout.is_zero() {
            // T26: NoProgressTimeout 0 makes every error fatal [SETNOPROG].
            self.fire(id, Rule::T26, Some(info));
        } else if class == ErrorClass::Fatal {
            self.fire(id, Rule::T22, Some(info));
        } else {
            let rule = if st == JobState::Connecting {
                Rule::T15
            } else {
                Rule::T21
            };
            self.enter_transient(id, rule, info);
        }
        self.settle();
        true
    }

    /// The server acknowledged Cancel-Session for a cancelled upload (X3).
    pub fn handle_upload_cancelled(&mut self, now: Time, id: JobId) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| j.cancelling_upload) else {
            return false;
        };
        self.lingering.remove(&(job.creation_seq, id));
        job.cancelling_upload = false;
        job.timers.cancel_deadline = None;
        self.emit_transition(id, Rule::X3, JobState::Cancelled, JobState::Cancelled, None);
        self.outputs.push_back(Output::JobRemoved { job: id });
        self.settle();
        true
    }

    /// The network went down (T27) or came back (T28) \[USERS\].
    pub fn handle_network_change(&mut self, now: Time, up: bool) {
        self.advance(now);
        self.sched.dirty = true;
        if up == self.network_up {
            return;
        }
        self.network_up = up;
        let ids: Vec<JobId> = self.live_ids();
        for id in ids {
            let st = self.jobs[&id].state;
            if up && st == JobState::TransientError {
                // T28: every TRANSIENT_ERROR job, whatever its code [USERS].
                self.fire(id, Rule::T28, None);
            } else if !up && Rule::T27.fires_from(st) {
                self.block(id, Rule::T27, Blocked::Network);
            }
        }
        self.settle();
    }

    /// The user logged on: their queued jobs may run again \[USERS\].
    pub fn handle_logon(&mut self, now: Time, user: &UserId) {
        self.advance(now);
        self.sched.dirty = true;
        self.logged_off.remove(user);
        self.settle();
    }

    /// The user logged off: their active jobs go back to QUEUED and wait
    /// (T19, decision A12) \[STATE\] \[USERS\].
    pub fn handle_logoff(&mut self, now: Time, user: &UserId) {
        self.advance(now);
        self.sched.dirty = true;
        self.logged_off.insert(user.clone());
        for id in self.live_ids() {
            let job = &self.jobs[&id];
            if &job.owner == user && Rule::T19.fires_from(job.state) {
                self.fire(id, Rule::T19, None);
            }
        }
        self.settle();
    }

    /// The BITS service restarted (X2): the persisted queue survives, active
    /// transfers go back to QUEUED, registered callback pointers and
    /// outstanding notifications are gone \[SETNOTIFYIF\] \[REGCB\]; command lines
    /// persist. Level-triggered events are re-delivered when an app
    /// registers again.
    pub fn handle_service_restart(&mut self, now: Time) {
        self.advance(now);
        self.sched.dirty = true;
        self.in_flight.clear();
        for id in self.live_ids() {
            if self.jobs[&id].state.is_active() {
                self.fire(id, Rule::X2, None);
            }
            self.jobs.get_mut(&id).expect("live").notify_interface = None;
        }
        self.settle();
    }

    /// The callback answered delivery `id` with `result`.
    ///
    /// JobTransferred and JobError need `S_OK`, FileTransferred a
    /// non-negative value; otherwise BITS calls again later (decision A9) or,
    /// when a command line is set, runs it instead and does not call the
    /// callback again for that event \[JOBXFER\] \[JOBERR\] \[FILEXFER\].
    /// JobModification results are ignored (decision A8).
    pub fn handle_callback_result(
        &mut self,
        now: Time,
        id: NotificationId,
        result: Hresult,
    ) -> bool {
        self.advance(now);
        let Some(f) = self.in_flight.remove(&id) else {
            return false;
        };
        let ok = match f.kind {
            NotifyKind::JobTransferred | NotifyKind::JobError => result == Hresult::S_OK,
            NotifyKind::FileTransferred(_) => result.is_success(),
            NotifyKind::JobModification => true,
        };
        if !ok {
            let has_cmd = self
                .jobs
                .get(&f.job)
                .is_some_and(|j| j.notify_cmd_line.is_some());
            if has_cmd && f.kind.cmd_line_capable() {
                self.requeue(f.key, f.job, f.kind, self.now, true);
            } else {
                let at = self.now.saturating_add(self.callback_retry(f.job));
                self.requeue(f.key, f.job, f.kind, at, false);
                self.outputs.push_back(Output::TimerArmed {
                    job: f.job,
                    timer: TimerKind::NotificationRetry,
                    at,
                });
            }
        }
        self.settle();
        true
    }

    /// The notification command line of delivery `id` ended \[CMDLINE\]: exit
    /// code 0 ends the event; another code runs it again after the job's
    /// MinimumRetryDelay unless the job was completed or cancelled; a
    /// program that could not start re-sends the notification after
    /// MinimumRetryDelay (callback first).
    pub fn handle_command_result(
        &mut self,
        now: Time,
        id: NotificationId,
        outcome: CommandOutcome,
    ) -> bool {
        self.advance(now);
        let Some(f) = self.in_flight.remove(&id) else {
            return false;
        };
        let delay = self
            .jobs
            .get(&f.job)
            .map_or(Duration::ZERO, |j| j.minimum_retry_delay);
        let at = self.now.saturating_add(delay);
        match outcome {
            CommandOutcome::Exited(0) => {}
            CommandOutcome::Exited(_) => self.requeue(f.key, f.job, f.kind, at, true),
            CommandOutcome::FailedToStart(_) => self.requeue(f.key, f.job, f.kind, at, false),
        }
        self.settle();
        true
    }

    /// Fires every timer due at or before `now`.
    ///
    /// Afterwards [`Manager::poll_timeout`] is `None` or later than `now`:
    /// what the scheduler starts on the way (e.g. a job whose
    /// MaximumDownloadTime is already used up) is handled in the same call.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        self.sched.dirty = true;
        // Bounded: each round fires at least one rule; a handful suffices.
        for _ in 0..8 {
            self.fire_due_timers();
            if self.poll_timeout().is_none_or(|t| t > self.now) {
                break;
            }
        }
    }

    fn fire_due_timers(&mut self) {
        let now = self.now;
        // Bandwidth-window edges (T29/X1) are the scheduler's: settle() below
        // runs it, since handle_timeout marks it dirty.
        let due: BTreeSet<(u64, JobId)> = self.live.union(&self.lingering).copied().collect();
        for (_, id) in due {
            if self.expire_upload_cancel(id, now) {
                continue;
            }
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if job.state.is_final() {
                continue;
            }
            let inactivity = job
                .timers
                .last_activity
                .saturating_add(self.policy.job_inactivity_timeout);
            if inactivity <= now {
                // T31: cancelled and removed; temp and reply files deleted;
                // already-uploaded server files untouched [GP] [GP-INACT].
                self.cancel_job(id, Rule::T31);
                // A zero-length cancel window (NoProgressTimeout 0) is over now.
                self.expire_upload_cancel(id, now);
                continue;
            }
            match job.state {
                JobState::TransientError if job.blocked.is_none() => {
                    if let Some(since) = job.timers.no_progress_since
                        && since.saturating_add(job.no_progress_timeout) <= now
                    {
                        self.fire(id, Rule::T24, None);
                        continue;
                    }
                    if job.timers.retry_at.is_some_and(|t| t <= now) {
                        self.fire(id, Rule::T23, None);
                    }
                }
                JobState::Connecting | JobState::Transferring => {
                    let max = job.maximum_download_time;
                    if !max.is_zero() && job.active_time(now) >= max {
                        self.jobs.get_mut(&id).expect("live").error_count += 1;
                        let info = ErrorInfo {
                            context: ErrorContext::GeneralQueueManager,
                            code: Hresult::BG_E_MAXDOWNLOAD_TIMEOUT,
                            file: None,
                            protocol: None,
                        };
                        self.fire(id, Rule::T30, Some(info));
                    }
                }
                _ => {}
            }
        }
        self.settle();
    }

    /// X3 by the clock: a cancelled upload whose Cancel-Session window has
    /// passed is removed anyway \[CANCEL\]. True if it fired.
    fn expire_upload_cancel(&mut self, id: JobId, now: Time) -> bool {
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        if !(job.cancelling_upload && job.timers.cancel_deadline.is_some_and(|t| t <= now)) {
            return false;
        }
        self.lingering.remove(&(job.creation_seq, id));
        job.cancelling_upload = false;
        job.timers.cancel_deadline = None;
        self.emit_transition(id, Rule::X3, JobState::Cancelled, JobState::Cancelled, None);
        self.outputs.push_back(Output::JobRemoved { job: id });
        true
    }

    // ------------------------------------------------------------------
    // Invariants
    // ------------------------------------------------------------------

    /// Checks the model's invariants; `Err` names the first one broken.
    /// Property tests call it after every step.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut per_user: BTreeMap<&UserId, usize> = BTreeMap::new();
        for f in self.in_flight.values() {
            *per_user.entry(&f.user).or_default() += 1;
        }
        let cap = self.policy.max_outstanding_notifications_per_user as usize;
        if let Some((u, n)) = per_user.iter().find(|(_, n)| **n > cap) {
            return Err(format!(
                "user {u} has {n} notifications outstanding (> {cap})"
            ));
        }
        let mut active_bg = 0;
        for job in self.jobs.values() {
            if job.error.is_some()
                && !matches!(job.state, JobState::Error | JobState::TransientError)
            {
                return Err(format!("{} has error info in {}", job.id, job.state));
            }
            if matches!(job.state, JobState::Error | JobState::TransientError)
                && job.error.is_none()
            {
                return Err(format!("{} is in {} without error info", job.id, job.state));
            }
            let p = job.progress();
            if p.bytes_total != BG_SIZE_UNKNOWN && p.bytes_transferred > p.bytes_total {
                return Err(format!(
                    "{} progress {} > total {}",
                    job.id, p.bytes_transferred, p.bytes_total
                ));
            }
            if job.job_type.is_upload() && job.files.len() > 1 {
                return Err(format!(
                    "upload job {} has {} files",
                    job.id,
                    job.files.len()
                ));
            }
            if !job.state.is_final()
                && self.now.since(job.timers.last_activity) > self.policy.job_inactivity_timeout
            {
                return Err(format!("{} outlived the inactivity timeout", job.id));
            }
            if job.state.is_active() && job.priority != JobPriority::Foreground {
                active_bg += 1;
            }
            if job.state.is_active() && (!self.network_up || !self.is_logged_on(&job.owner)) {
                return Err(format!("{} is {} while it may not run", job.id, job.state));
            }
        }
        if active_bg > 1 {
            return Err(format!("{active_bg} background jobs run at once"));
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------

    fn advance(&mut self, now: Time) {
        // The model's clock is monotonic: an earlier `now` is taken as the
        // latest time seen [SETRETRY].
        if now > self.now {
            self.now = now;
            if self.sched.wake.is_some_and(|w| now >= w) {
                self.sched.dirty = true;
            }
        }
    }

    fn state_of(&self, id: JobId) -> Option<JobState> {
        self.jobs.get(&id).map(|j| j.state)
    }

    fn live_ids(&self) -> Vec<JobId> {
        self.live.iter().map(|&(_, id)| id).collect()
    }

    fn live_jobs(&self) -> impl Iterator<Item = &Job> {
        self.live.iter().map(|&(seq, _)| self.jobs.by_seq(seq))
    }

    /// Access and state checks shared by every changing call \[USERS\] \[LC\].
    fn job_for_change(&self, caller: &Caller, id: JobId) -> Result<&Job> {
        let job = self
            .jobs
            .get(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        if job.owner != caller.user && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        if job.state.is_final() {
            return Err(Error::new(Hresult::BG_E_INVALID_STATE));
        }
        Ok(job)
    }

    fn set_property(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        f: impl FnOnce(&mut Job) -> Result<()>,
    ) -> Result<()> {
        self.advance(now);
        self.job_for_change(caller, id)?;
        f(self.jobs.get_mut(&id).expect("checked"))?;
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// Marks a modification: ModificationTime moves \[TIMES\], activity resets
    /// the inactivity timer \[GP\], JobModification is raised \[JOBMOD\].
    fn touch(&mut self, id: JobId, activity: bool) {
        let now = self.now;
        if let Some(job) = self.jobs.get_mut(&id) {
            job.times.modification_time = now;
            if activity {
                job.timers.last_activity = now;
            }
            if !job.state.is_final() {
                self.raise(id, NotifyKind::JobModification);
            }
        }
    }

    /// [`Manager::touch`] after a file finished: when that finish moved the
    /// job into TRANSFERRED (T20) the only change is the state change, which
    /// raises JobTransferred and no JobModification \[JOBMOD\] (decision A8).
    fn touch_unless_transferred(&mut self, id: JobId) {
        if self.jobs.get(&id).map(|j| j.state) == Some(JobState::Transferred) {
            self.touch_quiet(id);
        } else {
            self.touch(id, true);
        }
    }

    /// ModificationTime and activity move, but no JobModification is raised:
    /// for calls whose only effect is entering ERROR or TRANSFERRED \[JOBMOD\].
    fn touch_quiet(&mut self, id: JobId) {
        let now = self.now;
        if let Some(job) = self.jobs.get_mut(&id) {
            job.times.modification_time = now;
            job.timers.last_activity = now;
        }
    }

    fn emit_transition(
        &mut self,
        id: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    ) {
        self.outputs.push_back(Output::Transition {
            at: self.now,
            job: id,
            rule,
            from,
            to,
            code,
        });
    }

    /// Applies `rule` to job `id`: the target comes from the table.
    fn fire(&mut self, id: JobId, rule: Rule, error: Option<ErrorInfo>) {
        let now = self.now;
        let job = self.jobs.get_mut(&id).expect("fire on a known job");
        let from = job.state;
        debug_assert!(rule.fires_from(from), "{rule} does not fire from {from}");
        let to = rule.target(from);
        self.sched.dirty = true;
        if to.is_final() {
            self.live.remove(&(job.creation_seq, id));
        }
        let was_active = from.is_active();
        if was_active && !to.is_active() {
            job.timers.active_used_ms += job
                .timers
                .active_since
                .map_or(0, |s| now.since(s).as_millis() as u64);
            job.timers.active_since = None;
            job.timers.slice_end = None;
        }
        if !was_active && to.is_active() {
            job.timers.active_since = Some(now);
            job.timers.slice_end = Some(now.saturating_add(self.policy.time_slice));
        }
        if let Some(e) = error {
            job.error = Some(e);
        }
        if !matches!(to, JobState::Error | JobState::TransientError) {
            // Error info lives only in ERROR/TRANSIENT_ERROR (decision A17).
            job.error = None;
            job.blocked = None;
            job.timers.retry_at = None;
        }
        if to == JobState::Queued && from != JobState::Queued {
            job.queue_seq = self.next_seq;
            self.next_seq += 1;
        }
        if to == JobState::Transferred {
            job.times.transfer_completion_time = Some(now);
            job.files_added_after_transfer = false;
        }
        job.state = to;
        let code = job
            .error
            .as_ref()
            .map(|e| e.code)
            .filter(|_| matches!(to, JobState::Error | JobState::TransientError));
        // The transport reported T15/T21/T22/T26 itself; T9/T10/T31 callers
        // already emitted StopTransfer ahead of their file effects.
        let stop = was_active
            && !to.is_active()
            && !matches!(
                rule,
                Rule::T15
                    | Rule::T20
                    | Rule::T21
                    | Rule::T22
                    | Rule::T26
                    | Rule::T9
                    | Rule::T10
                    | Rule::T31
            );
        self.emit_transition(id, rule, from, to, if from != to { code } else { None });
        if stop {
            self.outputs.push_back(Output::StopTransfer { job: id });
        }
        if from != to {
            self.jobs
                .get_mut(&id)
                .expect("live")
                .times
                .modification_time = now;
            self.purge_invalid_pending(id);
            match to {
                // No JobModification on entering ERROR or TRANSFERRED [JOBMOD].
                JobState::Error => self.raise(id, NotifyKind::JobError),
                JobState::Transferred => self.raise(id, NotifyKind::JobTransferred),
                JobState::Acknowledged | JobState::Cancelled => {}
                _ => self.raise(id, NotifyKind::JobModification),
            }
        }
    }

    fn enter_transient(&mut self, id: JobId, rule: Rule, info: ErrorInfo) {
        let now = self.now;
        self.fire(id, rule, Some(info));
        let job = self.jobs.get_mut(&id).expect("live");
        // The no-progress clock starts at the first transient error [SETNOPROG].
        let since = *job.timers.no_progress_since.get_or_insert(now);
        let deadline = since.saturating_add(job.no_progress_timeout);
        if job.minimum_retry_delay > job.no_progress_timeout {
            // T25: the retry would come after the deadline: no retry at all [SETRETRY].
            self.fire(id, Rule::T25, None);
        } else if deadline <= now {
            self.fire(id, Rule::T24, None);
        } else {
            let at = now.saturating_add(job.minimum_retry_delay);
            job.timers.retry_at = Some(at);
            self.outputs.push_back(Output::TimerArmed {
                job: id,
                timer: TimerKind::Retry,
                at,
            });
            self.outputs.push_back(Output::TimerArmed {
                job: id,
                timer: TimerKind::NoProgress,
                at: deadline,
            });
        }
    }

    fn block(&mut self, id: JobId, rule: Rule, why: Blocked) {
        let (code, context) = match why {
            Blocked::Network => (
                Hresult::BG_E_NETWORK_DISCONNECTED,
                ErrorContext::GeneralTransport,
            ),
            Blocked::Policy => (
                Hresult::BG_E_BLOCKED_BY_POLICY,
                ErrorContext::GeneralQueueManager,
            ),
        };
        let info = ErrorInfo {
            context,
            code,
            file: None,
            protocol: None,
        };
        // EC not incremented; no retry timer [ERRCOUNT] [STATE] [GP].
        self.fire(id, rule, Some(info));
        self.jobs.get_mut(&id).expect("live").blocked = Some(why);
    }

    /// Emits StopTransfer before the caller's file effects; the rule that
    /// follows (T9, T10, T31) does the timer bookkeeping.
    fn stop_if_active(&mut self, id: JobId) {
        if self.jobs[&id].state.is_active() {
            self.outputs.push_back(Output::StopTransfer { job: id });
        }
    }

    /// Cancel (T9) or inactivity expiry (T31).
    fn cancel_job(&mut self, id: JobId, rule: Rule) {
        self.stop_if_active(id);
        let job = &self.jobs[&id];
        let upload_unfinished =
            job.job_type.is_upload() && !job.files.first().is_some_and(|f| f.transferred);
        let mut deletes: Vec<FileRef> = job
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.has_temp && !f.completed)
            .map(|(i, _)| FileRef::File(i))
            .collect();
        if job
            .reply
            .as_ref()
            .is_some_and(|r| r.bytes_total != BG_SIZE_UNKNOWN)
        {
            // Upload-reply: Cancel after the upload cancels the reply [COMPLCAN].
            deletes.push(FileRef::Reply);
        }
        let has_files = !job.files.is_empty();
        let window = self
            .policy
            .upload_cancel_window
            .min(job.no_progress_timeout);
        for file in deletes {
            self.outputs
                .push_back(Output::DeleteTempFile { job: id, file });
        }
        // A server session exists once the upload has ever connected.
        let started_upload = upload_unfinished && has_files && job.started;
        self.fire(id, rule, None);
        let now = self.now;
        let job = self.jobs.get_mut(&id).expect("live");
        for f in &mut job.files {
            f.has_temp = false;
        }
        job.removed = true;
        if started_upload {
            // Tell the server; linger up to 24 h or the no-progress timeout [CANCEL].
            job.cancelling_upload = true;
            job.timers.cancel_deadline = Some(now.saturating_add(window));
            self.lingering.insert((job.creation_seq, id));
            self.outputs
                .push_back(Output::CancelUploadSession { job: id });
        } else {
            self.outputs.push_back(Output::JobRemoved { job: id });
        }
        self.purge_invalid_pending(id);
    }

    fn finish(&mut self, id: JobId) {
        let job = self.jobs.get_mut(&id).expect("live");
        job.removed = true;
        self.outputs.push_back(Output::JobRemoved { job: id });
        self.purge_invalid_pending(id);
    }

    /// After a file finished: next file, the reply, or TRANSFERRED.
    fn advance_job(&mut self, id: JobId) {
        let job = self.jobs.get_mut(&id).expect("live");
        if let Some(next) = job.files.iter().position(|f| !f.transferred) {
            job.current_file = next;
            let offset = job.files[next].bytes_transferred;
            if !job.job_type.is_upload() {
                job.files[next].has_temp = true;
            }
            self.outputs.push_back(Output::StartTransfer {
                job: id,
                file: FileRef::File(next),
                offset,
            });
        } else if job.reply.as_ref().is_some_and(|r| !r.done) {
            let offset = job.reply.as_ref().map_or(0, |r| r.bytes_transferred);
            self.outputs.push_back(Output::StartTransfer {
                job: id,
                file: FileRef::Reply,
                offset,
            });
        } else {
            self.fire(id, Rule::T20, None);
        }
    }

    fn policy_blocks(&self, now: Time) -> bool {
        self.policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0 && w.contains(now.as_millis()))
    }

    fn next_policy_boundary(&self) -> Option<Time> {
        if !self
            .policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0)
        {
            return None;
        }
        let day_ms = 86_400_000;
        let base = self.now.as_millis() / day_ms * day_ms;
        let mut best: Option<u64> = None;
        for w in self
            .policy
            .bandwidth_windows
            .iter()
            .filter(|w| w.limit_bytes_per_sec == 0)
        {
            for edge in [w.start_secs, w.end_secs] {
                for day in [0, day_ms] {
                    // Saturating: the model never panics on input, even at
                    // the end of the clock.
                    let t = base
                        .saturating_add(day)
                        .saturating_add(u64::from(edge) * 1000);
                    if t > self.now.as_millis() {
                        best = Some(best.map_or(t, |b| b.min(t)));
                    }
                }
            }
        }
        best.map(Time)
    }

    fn job_deadline(&self, job: &Job) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Option<Time>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Time| n.min(t)));
            }
        };
        if job.cancelling_upload {
            consider(job.timers.cancel_deadline);
        }
        if job.state.is_final() {
            return next;
        }
        consider(Some(
            job.timers
                .last_activity
                .saturating_add(self.policy.job_inactivity_timeout),
        ));
        match job.state {
            JobState::TransientError if job.blocked.is_none() => {
                consider(job.timers.retry_at);
                consider(
                    job.timers
                        .no_progress_since
                        .map(|s| s.saturating_add(job.no_progress_timeout)),
                );
            }
            JobState::Connecting | JobState::Transferring
                if !job.maximum_download_time.is_zero() =>
            {
                let left = job
                    .maximum_download_time
                    .saturating_sub(job.active_time(self.now));
                consider(Some(self.now.saturating_add(left)));
            }
            _ => {}
        }
        next
    }

    fn eligible(&self, job: &Job) -> bool {
        job.state == JobState::Queued && self.is_logged_on(&job.owner)
    }

    /// The scheduler \[LC-OLD\] \[LC\] \[PRIO\]: all FOREGROUND jobs run at once
    /// beside one background job; a higher background priority preempts a
    /// lower one; equal priorities share round-robin slices (T13, T18).
    fn schedule(&mut self) {
        let now = self.now;
        let policy_blocking = self.policy_blocks(now);
        // Only a window with limit 0 ever blocks a job (T29), so only then
        // is there anything to block or unblock.
        if self
            .policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0)
        {
            for id in self.live_ids() {
                let j = &self.jobs[&id];
                if policy_blocking
                    && j.priority != JobPriority::Foreground
                    && Rule::T29.fires_from(j.state)
                {
                    self.block(id, Rule::T29, Blocked::Policy);
                }
                let j = &self.jobs[&id];
                let unblocked = !policy_blocking || j.priority == JobPriority::Foreground;
                if unblocked
                    && j.state == JobState::TransientError
                    && j.blocked == Some(Blocked::Policy)
                {
                    // X1, whoever notices first that the window is over: a call
                    // arriving after the window end must not leave the job
                    // blocked for good [GP]. A job raised to FOREGROUND is not
                    // throttled at all [NETBW].
                    self.fire(id, Rule::X1, None);
                }
            }
        }
        // The policy first, so that its blocks and unblocks (a job raised to
        // FOREGROUND, a window that ended) also happen while the network is
        // down; the network block then applies to whatever is QUEUED.
        if !self.network_up {
            for id in self.live_ids() {
                if self.jobs[&id].state == JobState::Queued {
                    self.block(id, Rule::T27, Blocked::Network);
                }
            }
            return;
        }
        let mut view = self.scheduler_view();
        // One background job at a time [LC]: a running FOREGROUND job whose
        // priority was lowered becomes a second background job; the lower
        // priority (then the later queued) goes back to QUEUED (T18).
        if view.running_bg.len() > 1 {
            for &(_, _, id, _) in view.running_bg.iter().skip(1) {
                self.fire(id, Rule::T18, None);
            }
            view = self.scheduler_view();
        }
        let fg_cap = self.policy.foreground_concurrency.unwrap_or(u32::MAX);
        let mut fg_running = view.fg_running;
        for &(p, _, id) in &view.waiting {
            if p == JobPriority::Foreground && fg_running < fg_cap {
                self.start(id);
                fg_running += 1;
            }
        }
        let Some(&(best_p, _, best)) = view
            .waiting
            .iter()
            .find(|(p, _, _)| *p != JobPriority::Foreground)
        else {
            return;
        };
        match view.running_bg.first() {
            None => self.start(best),
            Some(&(active_p, _, active, slice_end)) => {
                let preempt = best_p < active_p
                    || (best_p == active_p && slice_end.is_some_and(|t| t <= now));
                if preempt {
                    self.fire(active, Rule::T18, None);
                    self.start(best);
                }
            }
        }
    }

    /// One pass over the live jobs: what the scheduler decides from.
    fn scheduler_view(&self) -> SchedulerView {
        let mut v = SchedulerView {
            running_bg: Vec::new(),
            waiting: Vec::new(),
            fg_running: 0,
        };
        for j in self.live_jobs() {
            if j.state.is_active() {
                if j.priority == JobPriority::Foreground {
                    v.fg_running += 1;
                } else {
                    v.running_bg
                        .push((j.priority, j.queue_seq, j.id, j.timers.slice_end));
                }
            } else if self.eligible(j) {
                v.waiting.push((j.priority, j.queue_seq, j.id));
            }
        }
        v.running_bg.sort();
        v.waiting.sort();
        v
    }

    fn start(&mut self, id: JobId) {
        self.fire(id, Rule::T13, None);
        let job = self.jobs.get_mut(&id).expect("live");
        job.started = true;
        if job.all_transferred() {
            // Only reachable after Suspend of a job whose last byte had
            // moved: nothing left to move (decision A2).
            self.fire(id, Rule::T14, None);
            self.fire(id, Rule::T20, None);
            return;
        }
        let file = job.files.iter().position(|f| !f.transferred);
        match file {
            Some(i) => {
                job.current_file = i;
                if !job.job_type.is_upload() {
                    job.files[i].has_temp = true;
                }
                let offset = job.files[i].bytes_transferred;
                self.outputs.push_back(Output::StartTransfer {
                    job: id,
                    file: FileRef::File(i),
                    offset,
                });
            }
            None => {
                let offset = job.reply.as_ref().map_or(0, |r| r.bytes_transferred);
                self.outputs.push_back(Output::StartTransfer {
                    job: id,
                    file: FileRef::Reply,
                    offset,
                });
            }
        }
    }

    /// Runs the scheduler if anything it depends on changed (a state, a
    /// priority, an owner, a logon, the network, or a time-based edge), then
    /// the notification dispatcher.
    fn settle(&mut self) {
        if self.sched.dirty {
            self.schedule();
            self.sched.dirty = false;
            let slice = self
                .live_jobs()
                .filter(|j| j.priority != JobPriority::Foreground && j.state.is_active())
                .filter_map(|j| j.timers.slice_end)
                .min();
            self.sched.wake = match (slice, self.next_policy_boundary()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !self.pending.is_empty() {
            self.dispatch();
        }
    }

    // ---------------- notifications ----------------

    fn raise(&mut self, id: JobId, kind: NotifyKind) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if !job.notify_flags.wants(kind.flag()) {
            return;
        }
        // Coalesce: one pending entry per job and event.
        if self.pending.values().any(|p| p.job == id && p.kind == kind) {
            return;
        }
        let mut not_before = self.now;
        if kind == NotifyKind::JobModification
            && let Some(last) = self.last_modification_dispatch.get(&id)
        {
            not_before = not_before.max(last.saturating_add(self.policy.min_notification_interval));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            seq,
            Pending {
                job: id,
                kind,
                not_before,
                via_cmd_line: false,
            },
        );
    }

    /// Puts a delivery back under its original key `seq`, so it keeps its
    /// place before events raised after it (FileTransferred ordering
    /// \[FILEXFER\]).
    fn requeue(&mut self, seq: u64, id: JobId, kind: NotifyKind, at: Time, via_cmd_line: bool) {
        self.pending.retain(|_, p| !(p.job == id && p.kind == kind));
        self.pending.insert(
            seq,
            Pending {
                job: id,
                kind,
                not_before: at,
                via_cmd_line,
            },
        );
    }

    fn rearm_level_triggered(&mut self, id: JobId) {
        match self.jobs.get(&id).map(|j| j.state) {
            Some(JobState::Transferred) => self.raise(id, NotifyKind::JobTransferred),
            Some(JobState::Error) => self.raise(id, NotifyKind::JobError),
            _ => {}
        }
    }

    /// A pending JobTransferred/JobError only stands while the job is in
    /// that state (decision A10) and its flag is set; nothing is delivered
    /// for finished jobs.
    fn still_valid(&self, p: &Pending) -> bool {
        let Some(job) = self.jobs.get(&p.job) else {
            return false;
        };
        // The flags gate delivery, not only raising: an event whose flag
        // was cleared (or DISABLE set) before it went out is dropped; it is
        // raised again if the flag comes back (level-triggered) [SETNOTIFY].
        if !job.notify_flags.wants(p.kind.flag()) {
            return false;
        }
        match p.kind {
            NotifyKind::JobTransferred => job.state == JobState::Transferred,
            NotifyKind::JobError => job.state == JobState::Error,
            _ => !job.state.is_final(),
        }
    }

    fn purge_invalid_pending(&mut self, id: JobId) {
        let keys: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.job == id)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if !self.still_valid(&self.pending[&k]) {
                self.pending.remove(&k);
            }
        }
    }

    fn callback_retry(&self, id: JobId) -> Duration {
        self.policy.callback_retry_interval.unwrap_or_else(|| {
            self.jobs
                .get(&id)
                .map_or(Duration::from_secs(600), |j| j.minimum_retry_delay)
        })
    }

    /// Delivers what may be delivered now, within four slots per user
    /// \[CB\] \[JOBERR\]: higher-priority events first, then FIFO; one
    /// FileTransferred at a time per job, before JobTransferred/JobError
    /// \[FILEXFER\].
    fn dispatch(&mut self) {
        let now = self.now;
        let cap = self.policy.max_outstanding_notifications_per_user as usize;
        let mut order: Vec<(u8, u64)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.not_before <= now)
            .map(|(k, p)| (p.kind.class(), *k))
            .collect();
        order.sort();
        for (_, key) in order {
            let Some(p) = self.pending.get(&key).cloned() else {
                continue;
            };
            if !self.still_valid(&p) {
                self.pending.remove(&key);
                continue;
            }
            let job = &self.jobs[&p.job];
            // FileTransferred calls of one job are serialized: the next
            // waits until the current one returned successfully, including
            // its re-calls; they go before JobTransferred/JobError [FILEXFER].
            let file_busy = self
                .in_flight
                .values()
                .any(|f| f.job == p.job && matches!(f.kind, NotifyKind::FileTransferred(_)))
                || self.pending.iter().any(|(k, q)| {
                    *k < key && q.job == p.job && matches!(q.kind, NotifyKind::FileTransferred(_))
                });
            if file_busy
                && matches!(
                    p.kind,
                    NotifyKind::FileTransferred(_)
                        | NotifyKind::JobTransferred
                        | NotifyKind::JobError
                )
            {
                continue;
            }
            let target = if !p.via_cmd_line && job.notify_interface.is_some() {
                let r = job.notify_interface.clone().expect("checked");
                Some((r.user.clone(), Some(r.callback)))
            } else if p.kind.cmd_line_capable() && job.notify_cmd_line.is_some() {
                Some((
                    job.notify_cmd_line.as_ref().expect("checked").user.clone(),
                    None,
                ))
            } else {
                None
            };
            let Some((user, callback)) = target else {
                // Nobody to tell: dropped; JobTransferred/JobError are raised
                // again when someone registers (level-triggered) [CB].
                self.pending.remove(&key);
                continue;
            };
            if self.outstanding_notifications(&user) >= cap {
                // The fifth waits until one returns [CB] [JOBERR].
                continue;
            }
            self.pending.remove(&key);
            let nid = NotificationId(self.next_notification);
            self.next_notification += 1;
            if p.kind == NotifyKind::JobModification {
                self.last_modification_dispatch.insert(p.job, now);
            }
            let via_cmd_line = callback.is_none();
            self.in_flight.insert(
                nid,
                InFlight {
                    job: p.job,
                    kind: p.kind,
                    user: user.clone(),
                    via_cmd_line,
                    key,
                },
            );
            let out = match callback {
                Some(callback) => Output::Notify {
                    id: nid,
                    job: p.job,
                    user,
                    callback,
                    kind: p.kind,
                },
                None => {
                    let c = self.jobs[&p.job].notify_cmd_line.clone().expect("checked");
                    Output::RunCommand {
                        id: nid,
                        job: p.job,
                        user,
                        program: c.program,
                        parameters: c.parameters,
                        kind: p.kind,
                    }
                }
            };
            self.outputs.push_back(out);
        }
    }
}

fn validate_remote(remote: &str, job_type: JobType) -> Result<()> {
    // URL ≤ 2,200 characters; http(s) for every job, file/UNC for downloads
    // only (SMB not for uploads) [FILEINFO] [SETREMOTE].
    let lower = remote.to_ascii_lowercase();
    let http = (lower.starts_with("http://") || lower.starts_with("https://"))
        && remote.len() > lower.find("//").unwrap_or(0) + 2;
    let smb = lower.starts_with("file://") || remote.starts_with("\\\\");
    if remote.chars().count() > MAX_URL
        || remote.contains('\0')
        || !(http || (smb && !job_type.is_upload()))
    {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    Ok(())
}

fn validate_local(local: &str) -> Result<()> {
    // A full path, no wildcards, no NUL [FILEINFO].
    let b = local.as_bytes();
    let windows_abs = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    let absolute = local.starts_with('/') || local.starts_with("\\\\") || windows_abs;
    if !absolute || local.contains(['*', '?', '\0']) || local.chars().count() > 32_767 {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    Ok(())
}

fn validate_ranges(ranges: &[ByteRange], max: u32, admin: bool) -> Result<()> {
    if ranges.is_empty() {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    if !admin && ranges.len() as u64 > u64::from(max) {
        return Err(Error::new(Hresult::BG_E_TOO_MANY_RANGES_IN_FILE));
    }
    let mut sorted: Vec<ByteRange> = ranges.to_vec();
    sorted.sort_by_key(|r| r.offset);
    for r in &sorted {
        if r.length == 0
            || (r.length != BG_LENGTH_TO_EOF && r.offset.checked_add(r.length).is_none())
        {
            return Err(Error::new(Hresult::BG_E_INVALID_RANGE));
        }
    }
    for w in sorted.windows(2) {
        let end = if w[0].length == BG_LENGTH_TO_EOF {
            u64::MAX
        } else {
            w[0].offset + w[0].length
        };
        if end > w[1].offset {
            return Err(Error::new(Hresult::BG_E_OVERLAPPING_RANGES));
        }
    }
    Ok(())
}

/// Every job, in creation order, with an index by GUID: lookups by id are
/// O(log n), and the scheduler's and timers' scans over the live jobs go
/// straight to a job by its creation position. Persists as the list of jobs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Job>", into = "Vec<Job>")]
struct JobTable {
    jobs: Vec<Job>,
    index: BTreeMap<JobId, usize>,
}

impl From<Vec<Job>> for JobTable {
    fn from(jobs: Vec<Job>) -> Self {
        let index = jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
        JobTable { jobs, index }
    }
}

impl From<JobTable> for Vec<Job> {
    fn from(t: JobTable) -> Self {
        t.jobs
    }
}

impl JobTable {
    fn get(&self, id: &JobId) -> Option<&Job> {
        self.index.get(id).map(|&i| &self.jobs[i])
    }
    fn get_mut(&mut self, id: &JobId) -> Option<&mut Job> {
        self.index.get(id).map(|&i| &mut self.jobs[i])
    }
    fn contains_key(&self, id: &JobId) -> bool {
        self.index.contains_key(id)
    }
    /// Appends a job; its `creation_seq` must be its position.
    fn insert(&mut self, id: JobId, job: Job) {
        debug_assert_eq!(job.creation_seq as usize, self.jobs.len());
        self.index.insert(id, self.jobs.len());
        self.jobs.push(job);
    }
    fn values(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }
    fn len(&self) -> usize {
        self.jobs.len()
    }
    fn by_seq(&self, seq: u64) -> &Job {
        &self.jobs[seq as usize]
    }
}

impl std::ops::Index<&JobId> for JobTable {
    type Output = Job;
    fn index(&self, id: &JobId) -> &Job {
        self.get(id).expect("a known job")
    }
}

/// What the scheduler sees of the live jobs, sorted by (priority, queue order).
struct SchedulerView {
    running_bg: Vec<(JobPriority, u64, JobId, Option<Time>)>,
    waiting: Vec<(JobPriority, u64, JobId)>,
    fg_running: u32,
}

/// The scheduler's memo: whether anything it depends on changed since it
/// last ran, and the next instant at which time alone changes a decision (a
/// round-robin slice ends, a bandwidth window opens or closes). Derived
/// state: a fresh or deserialized manager starts dirty, and two managers
/// that differ only here are equal.
#[derive(Debug, Clone)]
struct SchedCache {
    dirty: bool,
    wake: Option<Time>,
}

impl Default for SchedCache {
    fn default() -> Self {
        SchedCache {
            dirty: true,
            wake: None,
        }
    }
}

impl PartialEq for SchedCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SchedCache {}
