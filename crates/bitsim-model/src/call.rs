//! The BITS API as values: one [`Call`] per method of
//! `IBackgroundCopyManager` / `IBackgroundCopyJob`..`Job4` that the
//! [`Manager`] offers, and the [`Reply`] it gives.
//!
//! Every front that turns something outside Rust into BITS calls uses this
//! one type: the scenario files' `[[actions]]`, the simulator, the model's
//! property tests, and a service speaking JSON. [`Call::apply`] is the only
//! place a call value meets the [`Manager`]; the rules themselves stay in
//! the manager's methods.
//!
//! Calls serialize with serde as `{"call": "set_priority", "priority":
//! "HIGH"}` (internally tagged, snake_case names, unknown fields refused).
//!
//! ```
//! use bitsim_model::*;
//!
//! let mut bits = Manager::new(Policy::default());
//! let alice = Caller::user("alice");
//! let job = JobId::from_random_bytes([1; 16]);
//! let create: Call = serde_json::from_str(
//!     r#"{"call": "create_job", "display_name": "nightly", "job_type": "download"}"#,
//! ).unwrap();
//! create.apply(&mut bits, Time::ZERO, &alice, job)?;
//! assert_eq!(Call::Resume.apply(&mut bits, Time::ZERO, &alice, job).unwrap_err().code,
//!            Hresult::BG_E_EMPTY);
//! assert_eq!(Call::GetState.apply(&mut bits, Time::ZERO, &alice, job)?,
//!            Reply::State(JobState::Suspended));
//! # Ok::<(), Error>(())
//! ```

use crate::job::{ByteRange, ErrorInfo, FileEntry, JobProgress, JobTimes, ReplyProgress};
use crate::{
    CallbackId, Caller, Error, Hresult, JobId, JobPriority, JobState, JobType, Manager,
    NotifyFlags, Result, Time, UserId,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One BITS API call with its arguments (the job it acts on is passed to
/// [`Call::apply`] separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Call {
    /// `IBackgroundCopyManager::CreateJob`; the job id given to `apply`
    /// becomes the new job's GUID.
    CreateJob {
        /// Display name.
        display_name: String,
        /// Download, upload or upload-reply.
        job_type: JobType,
    },
    /// `IBackgroundCopyManager::GetJob`.
    GetJob,
    /// `IBackgroundCopyManager::EnumJobs` (the job id is ignored).
    EnumJobs {
        /// `0` or `BG_JOB_ENUM_ALL_USERS`.
        #[serde(default)]
        flags: u32,
    },
    /// `AddFile`.
    AddFile {
        /// URL.
        remote: String,
        /// Local path.
        local: String,
    },
    /// `IBackgroundCopyJob3::AddFileWithRanges`.
    AddFileWithRanges {
        /// URL.
        remote: String,
        /// Local path.
        local: String,
        /// The ranges.
        ranges: Vec<ByteRange>,
    },
    /// `IBackgroundCopyJob3::ReplaceRemotePrefix`-style rename of one file's URL
    /// (`IBackgroundCopyFile2::SetRemoteName`).
    SetRemoteName {
        /// File index.
        file: usize,
        /// New URL.
        remote: String,
    },
    /// `Resume`.
    Resume,
    /// `Suspend`.
    Suspend,
    /// `Cancel`.
    Cancel,
    /// `Complete`.
    Complete,
    /// `SetPriority` with a named priority.
    SetPriority {
        /// The priority.
        priority: JobPriority,
    },
    /// `SetPriority` with a raw number (values outside the enum get
    /// `E_NOTIMPL`, as from COM).
    SetPriorityRaw {
        /// The number.
        value: u32,
    },
    /// `SetNotifyFlags`.
    SetNotifyFlags {
        /// The flags.
        flags: NotifyFlags,
    },
    /// `SetNotifyInterface` (`None` clears the registration).
    SetNotifyInterface {
        /// The registered object's handle.
        #[serde(default)]
        callback: Option<CallbackId>,
    },
    /// `IBackgroundCopyJob2::SetNotifyCmdLine` (`None` clears it).
    SetNotifyCmdLine {
        /// Program.
        #[serde(default)]
        program: Option<String>,
        /// Parameters.
        #[serde(default)]
        parameters: Option<String>,
    },
    /// `SetMinimumRetryDelay`.
    SetMinimumRetryDelay {
        /// Seconds.
        seconds: u32,
    },
    /// `SetNoProgressTimeout`.
    SetNoProgressTimeout {
        /// Seconds.
        seconds: u32,
    },
    /// `IBackgroundCopyJob4::SetMaximumDownloadTime`.
    SetMaximumDownloadTime {
        /// Seconds.
        seconds: u32,
    },
    /// `SetDisplayName`.
    SetDisplayName {
        /// The name.
        name: String,
    },
    /// `SetDescription`.
    SetDescription {
        /// The text.
        text: String,
    },
    /// `IBackgroundCopyJob2::SetReplyFileName`.
    SetReplyFileName {
        /// The path.
        name: String,
    },
    /// `TakeOwnership` (the caller becomes the owner).
    TakeOwnership,
    /// `IBackgroundCopyFile5::SetValidationState`.
    SetValidationState {
        /// File index.
        file: usize,
        /// Valid or not.
        valid: bool,
    },
    /// `GetState`.
    GetState,
    /// `GetType`.
    GetType,
    /// `GetPriority`.
    GetPriority,
    /// `GetOwner`.
    GetOwner,
    /// `GetDisplayName`.
    GetDisplayName,
    /// `GetDescription`.
    GetDescription,
    /// `GetError`.
    GetError,
    /// `GetErrorCount`.
    GetErrorCount,
    /// `GetNotifyFlags`.
    GetNotifyFlags,
    /// `GetMinimumRetryDelay`.
    GetMinimumRetryDelay,
    /// `GetNoProgressTimeout`.
    GetNoProgressTimeout,
    /// `IBackgroundCopyJob4::GetMaximumDownloadTime`.
    GetMaximumDownloadTime,
    /// `GetProgress`.
    GetProgress,
    /// `GetTimes`.
    GetTimes,
    /// `IBackgroundCopyJob2::GetNotifyCmdLine`.
    GetNotifyCmdLine,
    /// `GetNotifyInterface` (the registered object's handle, if any).
    GetNotifyInterface,
    /// `EnumFiles`: every file with its names and progress.
    EnumFiles,
    /// `IBackgroundCopyJob2::GetReplyFileName`.
    GetReplyFileName,
    /// `IBackgroundCopyJob2::GetReplyProgress`.
    GetReplyProgress,
    /// `IBackgroundCopyJob2::GetReplyData`.
    GetReplyData,
}

/// What a successful [`Call`] returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// A method without an out-parameter: its success HRESULT
    /// (`S_OK`, `BG_S_PARTIAL_COMPLETE`, ...).
    Done(#[serde(with = "crate::hresult::text")] Hresult),
    /// `CreateJob`, `GetJob`: the job.
    Job(JobId),
    /// `EnumJobs`.
    Jobs(Vec<JobId>),
    /// `GetState`.
    State(JobState),
    /// `GetType`.
    Type(JobType),
    /// `GetPriority`.
    Priority(JobPriority),
    /// `GetOwner`.
    Owner(UserId),
    /// `GetDisplayName`, `GetDescription`.
    Text(String),
    /// `GetError`.
    Error(ErrorInfo),
    /// `GetErrorCount`.
    Count(u32),
    /// `GetNotifyFlags`.
    Flags(NotifyFlags),
    /// `GetMinimumRetryDelay`, `GetNoProgressTimeout`, `GetMaximumDownloadTime`.
    Seconds(u32),
    /// `GetProgress`.
    Progress(JobProgress),
    /// `GetTimes`.
    Times(JobTimes),
    /// `GetReplyProgress`.
    ReplyProgress(ReplyProgress),
    /// `GetReplyData` (`None`: the server sent no reply).
    ReplyData(Option<Vec<u8>>),
    /// `GetNotifyCmdLine`: program and parameters (`None`: not set).
    CmdLine(Option<(String, Option<String>)>),
    /// `GetNotifyInterface`.
    Callback(Option<CallbackId>),
    /// `EnumFiles`.
    Files(Vec<FileEntry>),
    /// `GetReplyFileName` (`None`: BITS picks the name).
    ReplyFileName(Option<String>),
}

impl Reply {
    /// The HRESULT the COM method returns with this reply: the success
    /// code of [`Reply::Done`], `S_OK` for every getter.
    pub fn hresult(&self) -> Hresult {
        match self {
            Reply::Done(h) => *h,
            _ => Hresult::S_OK,
        }
    }

    /// The HRESULT the COM method returns for a call's outcome `r`
    /// ([`Call::apply`]): its reply's ([`Reply::hresult`]) or its error's.
    pub fn hresult_of(r: &Result<Reply>) -> Hresult {
        match r {
            Ok(reply) => reply.hresult(),
            Err(e) => e.code,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Done(h) => write!(f, "{h}"),
            Reply::Job(j) => write!(f, "{j}"),
            Reply::Jobs(js) => write!(f, "{} jobs", js.len()),
            Reply::State(s) => write!(f, "{s}"),
            Reply::Type(t) => write!(f, "{t}"),
            Reply::Priority(p) => write!(f, "{p}"),
            Reply::Owner(u) => write!(f, "{u}"),
            Reply::Text(t) => write!(f, "{t:?}"),
            Reply::Error(e) => write!(f, "{} in {}", e.code, e.context),
            Reply::Count(n) => write!(f, "{n}"),
            Reply::Flags(n) => write!(f, "{n}"),
            Reply::Seconds(n) => write!(f, "{n}s"),
            Reply::Progress(p) => write!(
                f,
                "{}/{} bytes, {}/{} files",
                p.bytes_transferred, p.bytes_total, p.files_transferred, p.files_total
            ),
            Reply::Times(t) => write!(
                f,
                "created {}, modified {}, completed {}",
                t.creation_time,
                t.modification_time,
                t.transfer_completion_time
                    .map_or("never".into(), |c| c.to_string())
            ),
            Reply::ReplyProgress(p) => write!(f, "{}/{} bytes", p.bytes_transferred, p.bytes_total),
            Reply::ReplyData(d) => match d {
                Some(d) => write!(f, "{} bytes", d.len()),
                None => f.write_str("no reply"),
            },
            Reply::CmdLine(c) => match c {
                Some((p, a)) => write!(f, "{p} {}", a.as_deref().unwrap_or("")),
                None => f.write_str("none"),
            },
            Reply::Callback(c) => match c {
                Some(c) => write!(f, "#{}", c.0),
                None => f.write_str("none"),
            },
            Reply::Files(fs) => write!(f, "{} files", fs.len()),
            Reply::ReplyFileName(n) => f.write_str(n.as_deref().unwrap_or("none")),
        }
    }
}

fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Call {
    /// True for the `Get*`/`Enum*` calls, which change nothing.
    pub fn is_getter(&self) -> bool {
        matches!(
            self,
            Call::GetJob
                | Call::EnumJobs { .. }
                | Call::GetState
                | Call::GetType
                | Call::GetPriority
                | Call::GetOwner
                | Call::GetDisplayName
                | Call::GetDescription
                | Call::GetError
                | Call::GetErrorCount
                | Call::GetNotifyFlags
                | Call::GetMinimumRetryDelay
                | Call::GetNoProgressTimeout
                | Call::GetMaximumDownloadTime
                | Call::GetProgress
                | Call::GetTimes
                | Call::GetNotifyCmdLine
                | Call::GetNotifyInterface
                | Call::EnumFiles
                | Call::GetReplyFileName
                | Call::GetReplyProgress
                | Call::GetReplyData
        )
    }

    /// The COM method's name, e.g. `SetMinimumRetryDelay`.
    pub fn method(&self) -> &'static str {
        match self {
            Call::CreateJob { .. } => "CreateJob",
            Call::GetJob => "GetJob",
            Call::EnumJobs { .. } => "EnumJobs",
            Call::AddFile { .. } => "AddFile",
            Call::AddFileWithRanges { .. } => "AddFileWithRanges",
            Call::SetRemoteName { .. } => "SetRemoteName",
            Call::Resume => "Resume",
            Call::Suspend => "Suspend",
            Call::Cancel => "Cancel",
            Call::Complete => "Complete",
            Call::SetPriority { .. } | Call::SetPriorityRaw { .. } => "SetPriority",
            Call::SetNotifyFlags { .. } => "SetNotifyFlags",
            Call::SetNotifyInterface { .. } => "SetNotifyInterface",
            Call::SetNotifyCmdLine { .. } => "SetNotifyCmdLine",
            Call::SetMinimumRetryDelay { .. } => "SetMinimumRetryDelay",
            Call::SetNoProgressTimeout { .. } => "SetNoProgressTimeout",
            Call::SetMaximumDownloadTime { .. } => "SetMaximumDownloadTime",
            Call::SetDisplayName { .. } => "SetDisplayName",
            Call::SetDescription { .. } => "SetDescription",
            Call::SetReplyFileName { .. } => "SetReplyFileName",
            Call::TakeOwnership => "TakeOwnership",
            Call::SetValidationState { .. } => "SetValidationState",
            Call::GetState => "GetState",
            Call::GetType => "GetType",
            Call::GetPriority => "GetPriority",
            Call::GetOwner => "GetOwner",
            Call::GetDisplayName => "GetDisplayName",
            Call::GetDescription => "GetDescription",
            Call::GetError => "GetError",
            Call::GetErrorCount => "GetErrorCount",
            Call::GetNotifyFlags => "GetNotifyFlags",
            Call::GetMinimumRetryDelay => "GetMinimumRetryDelay",
            Call::GetNoProgressTimeout => "GetNoProgressTimeout",
            Call::GetMaximumDownloadTime => "GetMaximumDownloadTime",
            Call::GetProgress => "GetProgress",
            Call::GetTimes => "GetTimes",
            Call::GetNotifyCmdLine => "GetNotifyCmdLine",
            Call::GetNotifyInterface => "GetNotifyInterface",
            Call::EnumFiles => "EnumFiles",
            Call::GetReplyFileName => "GetReplyFileName",
            Call::GetReplyProgress => "GetReplyProgress",
            Call::GetReplyData => "GetReplyData",
        }
    }

    /// Makes the call on `job` as `caller` at `now`. Job-level calls act
    /// on `job`; `CreateJob` creates it with that GUID; `EnumJobs` ignores
    /// it. `Complete` publishes every file (use
    /// [`Manager::complete_with`] to make a rename fail).
    pub fn apply(&self, m: &mut Manager, now: Time, caller: &Caller, job: JobId) -> Result<Reply> {
        let done = |r: Result<()>| r.map(|()| Reply::Done(Hresult::S_OK));
        match self {
            Call::CreateJob {
                display_name,
                job_type,
            } => m
                .create_job(now, caller, job, display_name, *job_type)
                .map(Reply::Job),
            Call::GetJob => m.get_job(caller, job).map(|j| Reply::Job(j.id)),
            Call::EnumJobs { flags } => m.enum_jobs(caller, *flags).map(Reply::Jobs),
            Call::AddFile { remote, local } => done(m.add_file(now, caller, job, remote, local)),
            Call::AddFileWithRanges {
                remote,
                local,
                ranges,
            } => done(m.add_file_with_ranges(now, caller, job, remote, local, ranges)),
            Call::SetRemoteName { file, remote } => {
                done(m.set_remote_name(now, caller, job, *file, remote))
            }
            Call::Resume => done(m.resume(now, caller, job)),
            Call::Suspend => done(m.suspend(now, caller, job)),
            Call::Cancel => m.cancel(now, caller, job).map(Reply::Done),
            Call::Complete => m.complete(now, caller, job).map(Reply::Done),
            Call::SetPriority { priority } => done(m.set_priority(now, caller, job, *priority)),
            Call::SetPriorityRaw { value } => done(m.set_priority_raw(now, caller, job, *value)),
            Call::SetNotifyFlags { flags } => done(m.set_notify_flags(now, caller, job, flags.0)),
            Call::SetNotifyInterface { callback } => {
                done(m.set_notify_interface(now, caller, job, *callback))
            }
            Call::SetNotifyCmdLine {
                program,
                parameters,
            } => done(m.set_notify_cmd_line(
                now,
                caller,
                job,
                program.as_deref(),
                parameters.as_deref(),
            )),
            Call::SetMinimumRetryDelay { seconds } => {
                done(m.set_minimum_retry_delay(now, caller, job, *seconds))
            }
            Call::SetNoProgressTimeout { seconds } => {
                done(m.set_no_progress_timeout(now, caller, job, *seconds))
            }
            Call::SetMaximumDownloadTime { seconds } => {
                done(m.set_maximum_download_time(now, caller, job, *seconds))
            }
            Call::SetDisplayName { name } => done(m.set_display_name(now, caller, job, name)),
            Call::SetDescription { text } => done(m.set_description(now, caller, job, text)),
            Call::SetReplyFileName { name } => done(m.set_reply_file_name(now, caller, job, name)),
            Call::TakeOwnership => done(m.take_ownership(now, caller, job)),
            Call::SetValidationState { file, valid } => {
                done(m.set_validation_state(now, caller, job, *file, *valid))
            }
            getter => {
                // A job method is called through the interface pointer the
                // caller holds, which keeps reading a job that has since
                // finished (decision A16); GetJob above is the lookup that
                // no longer finds it.
                let j = m.job_as(caller, job)?;
                Ok(match getter {
                    Call::GetState => Reply::State(j.state),
                    Call::GetType => Reply::Type(j.job_type),
                    Call::GetPriority => Reply::Priority(j.priority),
                    Call::GetOwner => Reply::Owner(j.owner.clone()),
                    Call::GetDisplayName => Reply::Text(j.display_name.clone()),
                    Call::GetDescription => Reply::Text(j.description.clone()),
                    Call::GetError => Reply::Error(j.get_error()?.clone()),
                    Call::GetErrorCount => Reply::Count(j.error_count),
                    Call::GetNotifyFlags => Reply::Flags(j.notify_flags),
                    Call::GetMinimumRetryDelay => Reply::Seconds(secs(j.minimum_retry_delay)),
                    Call::GetNoProgressTimeout => Reply::Seconds(secs(j.no_progress_timeout)),
                    Call::GetMaximumDownloadTime => Reply::Seconds(secs(j.maximum_download_time)),
                    Call::GetProgress => Reply::Progress(j.progress()),
                    Call::GetTimes => Reply::Times(j.times),
                    Call::GetNotifyCmdLine => Reply::CmdLine(
                        j.notify_cmd_line
                            .as_ref()
                            .map(|c| (c.program.clone(), c.parameters.clone())),
                    ),
                    Call::GetNotifyInterface => {
                        Reply::Callback(j.notify_interface.as_ref().map(|r| r.callback))
                    }
                    Call::EnumFiles => Reply::Files(j.files.clone()),
                    // "Call this method only if the job type is
                    // BG_JOB_TYPE_UPLOAD_REPLY" [REPLYFILE]; the page names no
                    // HRESULT for other types, so this answers E_NOTIMPL like
                    // the model's SetReplyFileName and GetReplyProgress
                    // (decision A31, pinned by a test below).
                    Call::GetReplyFileName => Reply::ReplyFileName(
                        j.reply
                            .as_ref()
                            .ok_or(Error::new(Hresult::E_NOTIMPL))?
                            .file_name
                            .clone(),
                    ),
                    Call::GetReplyProgress => Reply::ReplyProgress(j.reply_progress()?),
                    Call::GetReplyData => Reply::ReplyData(j.reply_data()?.map(<[u8]>::to_vec)),
                    _ => return Err(Error::new(Hresult::E_NOTIMPL)),
                })
            }
        }
    }
}

impl fmt::Display for Call {
    /// The call as traces show it: `Resume`, `SetPriority(HIGH)`,
    /// `SetMinimumRetryDelay(30)`, `AddFile(http://host/a)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.method();
        match self {
            Call::CreateJob {
                display_name,
                job_type,
            } => write!(f, "{m}({display_name:?}, {job_type})"),
            Call::EnumJobs { flags } => write!(f, "{m}(0x{flags:X})"),
            Call::AddFile { remote, .. } | Call::AddFileWithRanges { remote, .. } => {
                write!(f, "{m}({remote})")
            }
            Call::SetRemoteName { file, remote } => write!(f, "{m}({file}, {remote})"),
            Call::SetPriority { priority } => write!(f, "{m}({priority})"),
            Call::SetPriorityRaw { value } => write!(f, "{m}({value})"),
            Call::SetNotifyFlags { flags } => write!(f, "{m}({flags})"),
            Call::SetNotifyInterface { callback } => match callback {
                Some(c) => write!(f, "{m}(#{})", c.0),
                None => write!(f, "{m}(NULL)"),
            },
            Call::SetNotifyCmdLine { program, .. } => {
                write!(f, "{m}({})", program.as_deref().unwrap_or("NULL"))
            }
            Call::SetMinimumRetryDelay { seconds }
            | Call::SetNoProgressTimeout { seconds }
            | Call::SetMaximumDownloadTime { seconds } => write!(f, "{m}({seconds})"),
            Call::SetDisplayName { name } | Call::SetReplyFileName { name } => {
                write!(f, "{m}({name:?})")
            }
            Call::SetDescription { text } => write!(f, "{m}({text:?})"),
            Call::SetValidationState { file, valid } => write!(f, "{m}({file}, {valid})"),
            _ => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn calls_round_trip_through_json_with_readable_names() {
        let calls = [
            Call::SetPriority {
                priority: JobPriority::High,
            },
            Call::SetNotifyFlags {
                flags: NotifyFlags(0xB),
            },
            Call::Complete,
            Call::AddFile {
                remote: "http://h/a".into(),
                local: "/d/a".into(),
            },
        ];
        for c in calls {
            let json = serde_json::to_string(&c).unwrap();
            let back: Call = serde_json::from_str(&json).unwrap();
            assert_eq!(back, c, "{json}");
        }
        let c: Call = serde_json::from_str(r#"{"call":"set_priority","priority":"high"}"#).unwrap();
        assert_eq!(
            c,
            Call::SetPriority {
                priority: JobPriority::High
            }
        );
        let e = serde_json::from_str::<Call>(r#"{"call":"set_priority","priority":"hihg"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown priority \"hihg\""), "{e}");
        assert!(e.contains("FOREGROUND, HIGH, NORMAL, LOW"), "{e}");
    }

    #[test]
    fn getters_read_a_finished_job_through_the_held_pointer() {
        // Decision A16: GetJob no longer finds a final job, its getters
        // still read it.
        let mut m = Manager::new(Policy::default());
        let a = Caller::user("alice");
        let j = JobId::from_random_bytes([4; 16]);
        let t = Time::ZERO;
        let create = Call::CreateJob {
            display_name: "x".into(),
            job_type: JobType::Download,
        };
        create.apply(&mut m, t, &a, j).unwrap();
        Call::Cancel.apply(&mut m, t, &a, j).unwrap();
        assert_eq!(
            Call::GetJob.apply(&mut m, t, &a, j).unwrap_err().code,
            Hresult::BG_E_NOT_FOUND
        );
        assert_eq!(
            Call::GetState.apply(&mut m, t, &a, j).unwrap(),
            Reply::State(JobState::Cancelled)
        );
        assert_eq!(
            Call::GetState
                .apply(&mut m, t, &Caller::user("bob"), j)
                .unwrap_err()
                .code,
            Hresult::E_ACCESSDENIED
        );
    }

    #[test]
    fn getters_read_what_setters_wrote() {
        let mut m = Manager::new(Policy::default());
        let a = Caller::user("alice");
        let j = JobId::from_random_bytes([3; 16]);
        let t = Time::ZERO;
        let create = Call::CreateJob {
            display_name: "x".into(),
            job_type: JobType::Download,
        };
        assert_eq!(create.apply(&mut m, t, &a, j).unwrap(), Reply::Job(j));
        for (set, get, want) in [
            (
                Call::SetPriority {
                    priority: JobPriority::Low,
                },
                Call::GetPriority,
                Reply::Priority(JobPriority::Low),
            ),
            (
                Call::SetMinimumRetryDelay { seconds: 1 },
                Call::GetMinimumRetryDelay,
                Reply::Seconds(5),
            ),
            (
                Call::SetNoProgressTimeout { seconds: 0 },
                Call::GetNoProgressTimeout,
                Reply::Seconds(0),
            ),
        ] {
            set.apply(&mut m, t, &a, j).unwrap();
            assert_eq!(get.apply(&mut m, t, &a, j).unwrap(), want, "{set}");
        }
        assert_eq!(
            Call::GetError.apply(&mut m, t, &a, j).unwrap_err().code,
            Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE
        );
        assert_eq!(
            Call::GetNotifyFlags.apply(&mut m, t, &a, j).unwrap(),
            Reply::Flags(NotifyFlags::DEFAULT)
        );
        assert!(Call::GetState.is_getter() && !Call::Resume.is_getter());
        assert_eq!(
            Call::GetReplyFileName
                .apply(&mut m, t, &a, j)
                .unwrap_err()
                .code,
            Hresult::E_NOTIMPL
        );
        assert_eq!(
            Call::GetNotifyCmdLine.apply(&mut m, t, &a, j).unwrap(),
            Reply::CmdLine(None)
        );
    }
}
