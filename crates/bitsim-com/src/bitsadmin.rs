//! `bitsadmin.exe` for Wine prefixes that have none: its command line and
//! its output, platform-independent (the COM client that uses them is
//! Windows-only, `bitsadmin_com`).
//!
//! Wine 8.0 ships no `bitsadmin.exe`, yet the command line a program gives
//! BITS to run when a job is transferred is very often
//! `%SystemRoot%\System32\bitsadmin.exe /complete {GUID}`. `bitsim-com.exe`
//! therefore acts as `bitsadmin.exe` when its file is named so
//! (`bitsim-com.exe install` copies itself to
//! `C:\windows\system32\bitsadmin.exe` when the prefix has none), or when
//! its first argument is `bitsadmin`. It is a genuine BITS client: it calls
//! `CoCreateInstance(CLSID_BackgroundCopyManager, CLSCTX_LOCAL_SERVER)` and
//! `GetJob`/`EnumJobs`, so it works against whatever serves BITS in the
//! prefix (bitsim through `bitsim-com.exe`, or Wine's own BITS).
//!
//! # What it takes
//!
//! The switches of Microsoft's `bitsadmin` (the Windows Commands
//! reference: <https://learn.microsoft.com/en-us/windows-server/administration/windows-commands/bitsadmin>),
//! case-insensitive, with the job named by its GUID (`{...}`) or its
//! display name:
//!
//! ```text
//! bitsadmin [/rawreturn] /list [/allusers] [/verbose]
//! bitsadmin [/rawreturn] /info JOB [/verbose]
//! bitsadmin [/rawreturn] /complete JOB | /cancel JOB | /resume JOB | /suspend JOB
//! bitsadmin /? | /help
//! ```
//!
//! # What it prints, and how it differs from Windows'
//!
//! Close to Windows' `bitsadmin` (3.0): a banner (left out with
//! `/rawreturn`), `/list` one line per job, `{GUID} 'NAME' STATE
//! FILES_DONE / FILES BYTES_DONE / BYTES` (`UNKNOWN` for a size not yet
//! known), then `Listed N job(s).`; `/info` the same line, `/info
//! /verbose` the job's properties as `NAME: VALUE` lines and its files;
//! `Job completed.`, `Job canceled.`, `Job resumed.`, `Job suspended.`
//! Known differences: the banner names bitsim; `/info /verbose` leaves out
//! what bitsim's server does not serve (creation and modification times,
//! proxy settings, ACL flags, owner integrity level); the owner is the
//! user name bitsim knows, without a domain. Errors go to stderr, not
//! stdout: a BITS call that fails prints `Unable to ACTION - 0xHRESULT`
//! and the manager's description of the HRESULT and exits 1; a command
//! line it does not take (an unknown switch, a missing or malformed GUID,
//! a switch not implemented here) prints what was wrong and exits 2. The
//! exit status matters to BITS: a notification command line that exits
//! non-zero is run again later.

use bitsim_model::{BG_SIZE_UNKNOWN, ErrorContext, Hresult, JobId, JobPriority, JobState, JobType};
use std::fmt;
use uuid::Uuid;

/// A job as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// `{GUID}`.
    Id(JobId),
    /// A display name (several jobs may have it: an error then).
    Name(String),
}

impl fmt::Display for JobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobRef::Id(id) => write!(f, "{id}"),
            JobRef::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// What to do with one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `/complete`: `IBackgroundCopyJob::Complete`.
    Complete,
    /// `/cancel`: `Cancel`.
    Cancel,
    /// `/resume`: `Resume`.
    Resume,
    /// `/suspend`: `Suspend`.
    Suspend,
}

impl Action {
    /// The switch, as bitsadmin spells it.
    pub fn switch(self) -> &'static str {
        match self {
            Action::Complete => "/complete",
            Action::Cancel => "/cancel",
            Action::Resume => "/resume",
            Action::Suspend => "/suspend",
        }
    }

    /// Every action.
    pub const ALL: [Action; 4] = [
        Action::Complete,
        Action::Cancel,
        Action::Resume,
        Action::Suspend,
    ];

    /// The verb of the failure message: `Unable to {verb} job - 0x...`
    /// (the switch without its `/`).
    pub fn verb(self) -> &'static str {
        &self.switch()[1..]
    }

    /// What is printed when the call succeeded with `hresult`
    /// (`BG_S_PARTIAL_COMPLETE` 0x00200017 from Complete: some files were
    /// not transferred and are not kept, \[COMPLETE\]).
    pub fn done(self, hresult: i32) -> &'static str {
        match self {
            Action::Complete if hresult == Hresult::BG_S_PARTIAL_COMPLETE.as_i32() => {
                "Job partially completed: the files not transferred were not kept."
            }
            Action::Complete => "Job completed.",
            Action::Cancel => "Job canceled.",
            Action::Resume => "Job resumed.",
            Action::Suspend => "Job suspended.",
        }
    }
}

/// One `bitsadmin` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/list [/allusers] [/verbose]`.
    List {
        /// `/allusers`: `EnumJobs(BG_JOB_ENUM_ALL_USERS)` (administrators).
        all_users: bool,
        /// `/verbose`: each job as `/info /verbose` shows it.
        verbose: bool,
    },
    /// `/info JOB [/verbose]`.
    Info {
        /// The job.
        job: JobRef,
        /// `/verbose`.
        verbose: bool,
    },
    /// `/complete`, `/cancel`, `/resume` or `/suspend` `JOB`.
    Act(Action, JobRef),
    /// `/?`, `/help`: the usage.
    Help,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `/rawreturn`: no banner.
    pub raw: bool,
    /// What to do.
    pub command: Command,
}

/// A command line `bitsadmin` does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgError {
    /// No command at all.
    Missing,
    /// A switch bitsadmin does not have.
    Unknown(String),
    /// A switch of Windows' bitsadmin this one does not implement.
    NotImplemented(String),
    /// A command that needs a job got none.
    NoJob(&'static str),
    /// A `{...}` that is not a GUID.
    BadGuid(String),
    /// An argument after a complete command.
    Extra(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Missing => write!(f, "no command given"),
            ArgError::Unknown(s) => write!(f, "unknown switch {s}"),
            ArgError::NotImplemented(s) => write!(
                f,
                "{s} is a switch of Windows' bitsadmin that this bitsadmin (bitsim's) does not implement"
            ),
            ArgError::NoJob(s) => write!(f, "{s} needs a job: its GUID ({{...}}) or display name"),
            ArgError::BadGuid(s) => write!(
                f,
                "{s} is not a job GUID (expected {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}})"
            ),
            ArgError::Extra(s) => write!(f, "unexpected argument {s}"),
        }
    }
}

impl std::error::Error for ArgError {}

/// Switches of Windows' bitsadmin not implemented here: named as such
/// rather than "unknown".
const NOT_IMPLEMENTED: &[&str] = &[
    "/create",
    "/addfile",
    "/addfileset",
    "/addfilewithranges",
    "/replaceremoteprefix",
    "/listfiles",
    "/getdisplayname",
    "/setdisplayname",
    "/gettype",
    "/getstate",
    "/getpriority",
    "/setpriority",
    "/getowner",
    "/getbytestotal",
    "/getbytestransferred",
    "/getfilestotal",
    "/getfilestransferred",
    "/getcreationtime",
    "/getmodificationtime",
    "/getcompletiontime",
    "/geterror",
    "/getdescription",
    "/setdescription",
    "/getnotifyflags",
    "/setnotifyflags",
    "/getnotifycmdline",
    "/setnotifycmdline",
    "/getminretrydelay",
    "/setminretrydelay",
    "/getnoprogresstimeout",
    "/setnoprogresstimeout",
    "/geterrorcount",
    "/setproxysettings",
    "/getproxyusage",
    "/getproxylist",
    "/getproxybypasslist",
    "/takeownership",
    "/setcredentials",
    "/removecredentials",
    "/reset",
    "/transfer",
    "/monitor",
    "/util",
    "/peercaching",
    "/cache",
    "/peers",
    "/wrap",
    "/nowrap",
];

/// The usage text (`/?`).
pub const USAGE: &str = "\
USAGE: BITSADMIN [/RAWRETURN] COMMAND
  /LIST [/ALLUSERS] [/VERBOSE]   List the jobs
  /INFO JOB [/VERBOSE]           Display information about the job
  /COMPLETE JOB                  Completes the job
  /CANCEL JOB                    Cancels the job
  /RESUME JOB                    Resumes a suspended job
  /SUSPEND JOB                   Suspends the job
  /? or /HELP                    This text
JOB is the job's GUID ({...}) or its display name.
/RAWRETURN leaves the banner out.";

/// Parses the arguments after the program's name.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Invocation, ArgError> {
    let mut raw = false;
    let mut it = args.iter().map(AsRef::as_ref).peekable();
    while it
        .peek()
        .is_some_and(|a| a.eq_ignore_ascii_case("/rawreturn"))
    {
        raw = true;
        it.next();
    }
    let Some(first) = it.next() else {
        return Err(ArgError::Missing);
    };
    let switch = first.to_ascii_lowercase();
    let job = |name: &'static str, it: &mut dyn Iterator<Item = &str>| match it.next() {
        Some(j) if !j.starts_with('/') => job_ref(j),
        _ => Err(ArgError::NoJob(name)),
    };
    let command = match switch.as_str() {
        "/?" | "/help" => Command::Help,
        "/list" => {
            let (mut all_users, mut verbose) = (false, false);
            for a in it.by_ref() {
                match a.to_ascii_lowercase().as_str() {
                    "/allusers" => all_users = true,
                    "/verbose" => verbose = true,
                    _ => return Err(ArgError::Extra(a.to_owned())),
                }
            }
            Command::List { all_users, verbose }
        }
        "/info" => {
            let job = job("/info", &mut it)?;
            let mut verbose = false;
            for a in it.by_ref() {
                match a.to_ascii_lowercase().as_str() {
                    "/verbose" => verbose = true,
                    _ => return Err(ArgError::Extra(a.to_owned())),
                }
            }
            Command::Info { job, verbose }
        }
        s if let Some(action) = Action::ALL.into_iter().find(|a| a.switch() == s) => {
            Command::Act(action, job(action.switch(), &mut it)?)
        }
        s if NOT_IMPLEMENTED.contains(&s) => {
            return Err(ArgError::NotImplemented(first.to_owned()));
        }
        _ => return Err(ArgError::Unknown(first.to_owned())),
    };
    if let Some(extra) = it.next() {
        return Err(ArgError::Extra(extra.to_owned()));
    }
    Ok(Invocation { raw, command })
}

/// A job argument: `{GUID}` (braces required, as bitsadmin prints it; a
/// `{` that does not open a GUID is an error), else a display name.
fn job_ref(arg: &str) -> Result<JobRef, ArgError> {
    if arg.starts_with('{') {
        let inner = arg
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|s| s.len() == 36)
            .ok_or_else(|| ArgError::BadGuid(arg.to_owned()))?;
        return Uuid::try_parse(inner)
            .map(|id| JobRef::Id(JobId(id)))
            .map_err(|_| ArgError::BadGuid(arg.to_owned()));
    }
    Ok(JobRef::Name(arg.to_owned()))
}

/// The banner (not with `/rawreturn`).
pub const BANNER: &str = "\
BITSADMIN version 3.0 [bitsim]
BITS administration utility (bitsim's, for Wine prefixes).
";

/// A file of a job, as `/info /verbose` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// The remote name (URL).
    pub remote: String,
    /// The local name.
    pub local: String,
    /// Bytes transferred.
    pub done: u64,
    /// Bytes in all (`u64::MAX`: not known yet).
    pub total: u64,
    /// Whether the file is complete.
    pub completed: bool,
}

/// What bitsadmin shows of a job, read through COM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// `GetId` (shown `{XXXXXXXX-XXXX-...}`, upper case, as bitsadmin
    /// prints a GUID).
    pub id: JobId,
    /// `GetDisplayName`.
    pub name: String,
    /// `GetType` (`BG_JOB_TYPE`).
    pub job_type: i32,
    /// `GetState` (`BG_JOB_STATE`).
    pub state: i32,
    /// `GetOwner`.
    pub owner: String,
    /// `GetPriority` (`BG_JOB_PRIORITY`).
    pub priority: i32,
    /// `GetProgress`: files transferred.
    pub files_done: u32,
    /// Files in all.
    pub files_total: u32,
    /// Bytes transferred.
    pub bytes_done: u64,
    /// Bytes in all (`u64::MAX`: not known yet).
    pub bytes_total: u64,
    /// `GetErrorCount`.
    pub error_count: u32,
    /// `GetMinimumRetryDelay` (s).
    pub retry_delay: u32,
    /// `GetNoProgressTimeout` (s).
    pub no_progress_timeout: u32,
    /// `GetNotifyFlags`.
    pub notify_flags: u32,
    /// `GetDescription`.
    pub description: String,
    /// `IBackgroundCopyJob2::GetNotifyCmdLine`: program and parameters
    /// (`None`: none set, or not asked).
    pub cmd_line: Option<(String, String)>,
    /// The error, when the job has one: (`BG_ERROR_CONTEXT`, HRESULT,
    /// the manager's description).
    pub error: Option<(i32, i32, String)>,
    /// `EnumFiles`.
    pub files: Vec<FileView>,
}

/// `BG_JOB_STATE` as bitsadmin prints it (the model's short name).
pub fn state_name(state: i32) -> &'static str {
    name(state, JobState::from_u32, JobState::short_name)
}

/// `BG_JOB_TYPE` as bitsadmin prints it.
pub fn type_name(job_type: i32) -> &'static str {
    name(job_type, JobType::from_u32, JobType::short_name)
}

/// `BG_JOB_PRIORITY` as bitsadmin prints it.
pub fn priority_name(priority: i32) -> &'static str {
    name(priority, JobPriority::from_u32, JobPriority::short_name)
}

/// `BG_ERROR_CONTEXT` as bitsadmin prints it (the SDK's name).
pub fn context_name(context: i32) -> &'static str {
    name(context, ErrorContext::from_u32, ErrorContext::bg_name)
}

/// The name of a BITS enumeration's value `v`; `UNKNOWN` outside it.
fn name<T>(v: i32, from: fn(u32) -> Option<T>, name: fn(T) -> &'static str) -> &'static str {
    u32::try_from(v).ok().and_then(from).map_or("UNKNOWN", name)
}

fn bytes(n: u64) -> String {
    if n == BG_SIZE_UNKNOWN {
        "UNKNOWN".to_owned()
    } else {
        n.to_string()
    }
}

/// `{GUID} 'NAME' STATE FILES_DONE / FILES BYTES_DONE / BYTES`: a job in
/// `/list` and `/info`.
pub fn line(j: &JobView) -> String {
    format!(
        "{} '{}' {} {} / {} {} / {}",
        j.id,
        j.name,
        state_name(j.state),
        j.files_done,
        j.files_total,
        bytes(j.bytes_done),
        bytes(j.bytes_total)
    )
}

/// The lines of `/info JOB /verbose`.
pub fn verbose(j: &JobView) -> Vec<String> {
    let mut v = vec![
        format!("GUID: {} DISPLAY: '{}'", j.id, j.name),
        format!(
            "TYPE: {} STATE: {} OWNER: {}",
            type_name(j.job_type),
            state_name(j.state),
            j.owner
        ),
        format!(
            "PRIORITY: {} FILES: {} / {} BYTES: {} / {}",
            priority_name(j.priority),
            j.files_done,
            j.files_total,
            bytes(j.bytes_done),
            bytes(j.bytes_total)
        ),
        format!("NOTIFICATION FLAGS: {}", j.notify_flags),
        format!(
            "RETRY DELAY: {} NO PROGRESS TIMEOUT: {} ERROR COUNT: {}",
            j.retry_delay, j.no_progress_timeout, j.error_count
        ),
    ];
    if let Some((context, code, text)) = &j.error {
        v.push(format!(
            "ERROR FILE: ERROR CODE: 0x{code:08x} - {} ERROR CONTEXT: {}",
            text.trim(),
            context_name(*context)
        ));
    }
    v.push(format!("DESCRIPTION: {}", j.description));
    v.push("JOB FILES:".to_owned());
    for f in &j.files {
        v.push(format!(
            "\t{} / {} {} {} -> {}",
            f.done,
            bytes(f.total),
            if f.completed { "COMPLETED" } else { "WORKING" },
            f.remote,
            f.local
        ));
    }
    v.push(match &j.cmd_line {
        Some((program, parameters)) => {
            format!("NOTIFICATION COMMAND LINE: '{program}' '{parameters}'")
        }
        None => "NOTIFICATION COMMAND LINE: none".to_owned(),
    });
    v
}

/// `Listed N job(s).`, the last line of `/list`.
pub fn listed(n: usize) -> String {
    format!("Listed {n} job(s).")
}

/// `Unable to ACTION - 0xHRESULT` (and the description, when there is
/// one): a BITS call that failed.
pub fn unable(what: &str, hresult: i32, description: &str) -> String {
    let d = description.trim();
    if d.is_empty() {
        format!("Unable to {what} - 0x{hresult:08x}")
    } else {
        format!("Unable to {what} - 0x{hresult:08x}\n{d}")
    }
}

/// Whether a program file name is bitsadmin's (`bitsadmin.exe`, any case,
/// with or without `.exe`): then `bitsim-com.exe` acts as bitsadmin.
pub fn is_bitsadmin_name(file_name: &str) -> bool {
    let n = file_name.to_ascii_lowercase();
    n == "bitsadmin.exe" || n == "bitsadmin"
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "{6C8AD2D2-7A09-4F68-A2E0-1A3F0A9D35C1}";

    fn id() -> JobId {
        JobId(Uuid::try_parse("6c8ad2d2-7a09-4f68-a2e0-1a3f0a9d35c1").unwrap())
    }

    /// The names bitsadmin prints, from the model's enumerations; a value
    /// outside one is UNKNOWN.
    #[test]
    fn enumerations_print_as_bitsadmin_prints_them() {
        let states: Vec<_> = (0..=9).map(state_name).collect();
        assert_eq!(
            states,
            [
                "QUEUED",
                "CONNECTING",
                "TRANSFERRING",
                "SUSPENDED",
                "ERROR",
                "TRANSIENT_ERROR",
                "TRANSFERRED",
                "ACKNOWLEDGED",
                "CANCELLED",
                "UNKNOWN"
            ]
        );
        let types: Vec<_> = (-1..=3).map(type_name).collect();
        assert_eq!(
            types,
            ["UNKNOWN", "DOWNLOAD", "UPLOAD", "UPLOAD_REPLY", "UNKNOWN"]
        );
        let priorities: Vec<_> = (0..=4).map(priority_name).collect();
        assert_eq!(
            priorities,
            ["FOREGROUND", "HIGH", "NORMAL", "LOW", "UNKNOWN"]
        );
        assert_eq!(context_name(0), "BG_ERROR_CONTEXT_NONE");
        assert_eq!(context_name(5), "BG_ERROR_CONTEXT_REMOTE_FILE");
        assert_eq!(context_name(7), "BG_ERROR_CONTEXT_REMOTE_APPLICATION");
        assert_eq!(context_name(8), "UNKNOWN");
        assert_eq!(context_name(i32::MIN), "UNKNOWN");
    }

    fn ok(args: &[&str]) -> Invocation {
        parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_switches_of_bitsadmin_case_insensitive() {
        assert_eq!(
            ok(&["/list"]).command,
            Command::List {
                all_users: false,
                verbose: false
            }
        );
        assert_eq!(
            ok(&["/LIST", "/AllUsers", "/verbose"]).command,
            Command::List {
                all_users: true,
                verbose: true
            }
        );
        assert_eq!(
            ok(&["/info", G]).command,
            Command::Info {
                job: JobRef::Id(id()),
                verbose: false
            }
        );
        let lower = G.to_ascii_lowercase();
        assert_eq!(
            ok(&["/Info", &lower, "/VERBOSE"]).command,
            Command::Info {
                job: JobRef::Id(id()),
                verbose: true
            }
        );
        for (s, a) in [
            ("/complete", Action::Complete),
            ("/CANCEL", Action::Cancel),
            ("/resume", Action::Resume),
            ("/Suspend", Action::Suspend),
        ] {
            assert_eq!(ok(&[s, G]).command, Command::Act(a, JobRef::Id(id())));
        }
        assert_eq!(
            ok(&["/complete", "my job"]).command,
            Command::Act(Action::Complete, JobRef::Name("my job".into()))
        );
        let i = ok(&["/rawreturn", "/list"]);
        assert!(i.raw);
        assert!(!ok(&["/list"]).raw);
        assert_eq!(ok(&["/?"]).command, Command::Help);
        assert_eq!(ok(&["/HELP"]).command, Command::Help);
    }

    #[test]
    fn what_it_does_not_take_is_named() {
        let err = |args: &[&str]| parse(args).unwrap_err();
        assert_eq!(err(&[]), ArgError::Missing);
        assert_eq!(err(&["/rawreturn"]), ArgError::Missing);
        assert_eq!(
            err(&["/frobnicate", G]),
            ArgError::Unknown("/frobnicate".into())
        );
        assert_eq!(err(&["complete", G]), ArgError::Unknown("complete".into()));
        assert_eq!(err(&["/complete"]), ArgError::NoJob("/complete"));
        assert_eq!(err(&["/info", "/verbose"]), ArgError::NoJob("/info"));
        assert_eq!(
            err(&["/complete", "{not-a-guid}"]),
            ArgError::BadGuid("{not-a-guid}".into())
        );
        assert_eq!(
            err(&["/cancel", "{6C8AD2D2-7A09-4F68-A2E0-1A3F0A9D35C1"]),
            ArgError::BadGuid("{6C8AD2D2-7A09-4F68-A2E0-1A3F0A9D35C1".into())
        );
        assert_eq!(
            err(&["/cancel", "{6C8AD2D27A094F68A2E01A3F0A9D35C1}"]),
            ArgError::BadGuid("{6C8AD2D27A094F68A2E01A3F0A9D35C1}".into())
        );
        assert_eq!(err(&["/complete", G, "x"]), ArgError::Extra("x".into()));
        assert_eq!(err(&["/list", "/bogus"]), ArgError::Extra("/bogus".into()));
        assert_eq!(
            err(&["/info", G, "/allusers"]),
            ArgError::Extra("/allusers".into())
        );
        assert_eq!(
            err(&["/TRANSFER", "x"]),
            ArgError::NotImplemented("/TRANSFER".into())
        );
        // Every error says what was wrong.
        for e in [
            err(&["/frobnicate"]),
            err(&["/complete"]),
            err(&["/complete", "{x}"]),
            err(&["/create", "x"]),
        ] {
            let text = e.to_string();
            assert!(
                ["/frobnicate", "/complete", "{x}", "/create"]
                    .iter()
                    .any(|s| text.contains(s)),
                "{text}"
            );
        }
    }

    fn job() -> JobView {
        JobView {
            id: id(),
            name: "app update".into(),
            job_type: 0,
            state: 6,
            owner: "alice".into(),
            priority: 2,
            files_done: 1,
            files_total: 1,
            bytes_done: 2000,
            bytes_total: 2000,
            error_count: 0,
            retry_delay: 600,
            no_progress_timeout: 1_209_600,
            notify_flags: 3,
            description: String::new(),
            cmd_line: Some((
                r"C:\windows\System32\bitsadmin.exe".into(),
                format!("bitsadmin.exe /complete {G}"),
            )),
            error: None,
            files: vec![FileView {
                remote: "http://127.0.0.1:8080/a.bin".into(),
                local: r"C:\a.bin".into(),
                done: 2000,
                total: 2000,
                completed: true,
            }],
        }
    }

    #[test]
    fn the_output_reads_as_bitsadmins() {
        let j = job();
        assert_eq!(
            line(&j),
            format!("{G} 'app update' TRANSFERRED 1 / 1 2000 / 2000")
        );
        let unknown = JobView {
            state: 2,
            files_done: 0,
            bytes_done: 0,
            bytes_total: u64::MAX,
            ..job()
        };
        assert_eq!(
            line(&unknown),
            format!("{G} 'app update' TRANSFERRING 0 / 1 0 / UNKNOWN")
        );
        let v = verbose(&j);
        assert_eq!(v[0], format!("GUID: {G} DISPLAY: 'app update'"));
        assert_eq!(v[1], "TYPE: DOWNLOAD STATE: TRANSFERRED OWNER: alice");
        assert_eq!(v[2], "PRIORITY: NORMAL FILES: 1 / 1 BYTES: 2000 / 2000");
        assert!(v.contains(
            &"\t2000 / 2000 COMPLETED http://127.0.0.1:8080/a.bin -> C:\\a.bin".to_owned()
        ));
        assert_eq!(
            v.last().unwrap(),
            &format!(
                "NOTIFICATION COMMAND LINE: 'C:\\windows\\System32\\bitsadmin.exe' 'bitsadmin.exe /complete {G}'"
            )
        );
        let failed = JobView {
            state: 4,
            error: Some((5, 0x8019_0194_u32 as i32, "Not found.\r\n".into())),
            cmd_line: None,
            ..job()
        };
        let v = verbose(&failed);
        assert!(
            v.contains(&"ERROR FILE: ERROR CODE: 0x80190194 - Not found. ERROR CONTEXT: BG_ERROR_CONTEXT_REMOTE_FILE".to_owned()),
            "{v:?}"
        );
        assert_eq!(v.last().unwrap(), "NOTIFICATION COMMAND LINE: none");
        assert_eq!(listed(2), "Listed 2 job(s).");
        assert_eq!(
            unable(
                "complete job",
                0x8020_0007_u32 as i32,
                "The requested action is not allowed in the current job state.\r\n"
            ),
            "Unable to complete job - 0x80200007\nThe requested action is not allowed in the current job state."
        );
        assert_eq!(
            unable("connect to BITS", 0x8007_06BA_u32 as i32, ""),
            "Unable to connect to BITS - 0x800706ba"
        );
        assert_eq!(Action::Complete.done(0), "Job completed.");
        assert_eq!(
            Action::Complete.done(Hresult::BG_S_PARTIAL_COMPLETE.as_i32()),
            "Job partially completed: the files not transferred were not kept."
        );
        assert_eq!(Action::Cancel.done(0), "Job canceled.");
        assert!(is_bitsadmin_name("BITSADMIN.EXE"));
        assert!(is_bitsadmin_name("bitsadmin"));
        assert!(!is_bitsadmin_name("bitsim-com.exe"));
    }
}
