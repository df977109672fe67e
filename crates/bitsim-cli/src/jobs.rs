//! `bitsim jobs`: the admin verbs BITS users know from `bitsadmin` and the
//! BitsTransfer cmdlets (`/list`, `/info`, `/cancel`, `/complete`,
//! `/resume`, `/suspend`), on a running `bitsim service` (`--service
//! ADDR`) or on a persisted queue (`--state PATH`).
//!
//! Every verb is a BITS call made as the caller (`--user`, `--admin`):
//! `list` is `EnumJobs` (every user's jobs with `--admin`, as
//! `BG_JOB_ENUM_ALL_USERS`), `info` is `GetJob`, the others are `GetJob`
//! then the job's method of the same name (a BITS client holds a job only
//! through `IBackgroundCopyManager::GetJob`, as `bitsadmin` does), so
//! BITS's access rules and answers are the model's (another user's job:
//! `E_ACCESSDENIED`; an unknown or finished job: `BG_E_NOT_FOUND`).
//!
//! On `--state`, a changing verb opens the queue as the BITS service
//! starting would (the lock, then the service restart X2:
//! [`Driver::open_held`]), makes the call through the model, lets its
//! effects happen (Cancel deletes the temporary files and ends an upload's
//! server session; Complete renames them to their destinations), persists
//! the queue and exits without starting any transfer: the next `bitsim
//! download --state` (or service) on that queue transfers what is queued.
//! While another process drives the queue the verb fails with "the queue
//! FILE is in use by process N" ([`bitsim::realtime::QueueLock`]); `list`
//! and `info` only read the state file and work at any time.
//!
//! Exit status: 0 when the call succeeded, 1 when BITS refused it (the
//! HRESULT is printed with its name and hex) or the queue or service could
//! not be reached, 2 on a usage error (a malformed job GUID, a `--state`
//! path with no queue).

// An HRESULT in `--json` output is written as the service's results write it.
use bitsim_service::methods::hresult as hresult_json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitsim::realtime::{Driver, RtConfig, read_queue};
use bitsim_model::{
    BG_JOB_ENUM_ALL_USERS, BG_SIZE_UNKNOWN, Caller, FileRef, Hresult, Job, JobId, JobState,
    Manager, NotifyFlags, Time,
};
use serde_json::{Value, json};

use crate::out::outln;

/// Where the queue is and who asks.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("queue").required(true).args(["service", "state"])))]
pub struct Target {
    /// A running `bitsim service` (TCP address, e.g. 127.0.0.1:7300).
    #[arg(long, value_name = "ADDR")]
    service: Option<String>,
    /// A persisted queue: the state file of `bitsim download/upload
    /// --state FILE`, or a service's state directory (its queue.json).
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Act as this user (default: the current user, who owns the jobs of
    /// `bitsim download/upload`).
    #[arg(long, value_name = "NAME",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    user: Option<String>,
    /// Act as an administrator: see and manage every user's jobs.
    #[arg(long)]
    admin: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A job GUID argument.
#[derive(Debug, clap::Args)]
pub struct OneJob {
    /// The job's GUID, with or without braces.
    #[arg(value_name = "ID", value_parser = parse_job)]
    id: JobId,
    #[command(flatten)]
    target: Target,
}

/// Arguments of `bitsim jobs`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  bitsim jobs list --state queue.json\n  \
bitsim jobs info {6F1B2C3D-...} --service 127.0.0.1:7300 --admin\n  \
bitsim jobs cancel {6F1B2C3D-...} --state queue.json\n\n\
On --state, a changing verb fails while another process (a running `bitsim download \
--state`) holds the queue's lock file <state>.lock; list and info read at any time.")]
pub struct JobsArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// One line per job: GUID, state, owner, bytes, files, display name
    /// (EnumJobs; every user's with --admin).
    List(Target),
    /// The job's properties: state, times, progress, error, files,
    /// notification settings, next retry (GetJob).
    Info(OneJob),
    /// Cancel the job: its temporary files are deleted.
    Cancel(OneJob),
    /// Complete the job: its transferred files are renamed to their
    /// destinations.
    Complete(OneJob),
    /// Resume the job (it transfers when a driver runs the queue).
    Resume(OneJob),
    /// Suspend the job.
    Suspend(OneJob),
}

fn parse_job(s: &str) -> Result<JobId, String> {
    uuid::Uuid::parse_str(s.trim()).map(JobId).map_err(|e| {
        format!(
            "{s:?} is not a job GUID ({e}); expected e.g. {{6F1B2C3D-0000-4000-8000-000000000001}}"
        )
    })
}

/// A changing verb: the BITS method it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Cancel,
    Complete,
    Resume,
    Suspend,
}

impl Act {
    /// The COM method's name, for messages.
    fn method(self) -> &'static str {
        match self {
            Act::Cancel => "Cancel",
            Act::Complete => "Complete",
            Act::Resume => "Resume",
            Act::Suspend => "Suspend",
        }
    }

    /// The protocol's call name.
    fn call(self) -> &'static str {
        match self {
            Act::Cancel => "cancel",
            Act::Complete => "complete",
            Act::Resume => "resume",
            Act::Suspend => "suspend",
        }
    }
}

/// Why a verb did not succeed.
enum Failure {
    /// BITS answered a failure HRESULT to `method`.
    Bits { method: String, code: Hresult },
    /// The arguments are wrong (exit 2).
    Usage(String),
    /// The queue or service could not be used (exit 1).
    Other(String),
}

/// A job as the verbs print it: the model's record, and how to read its
/// times.
struct Shown {
    job: Job,
    clock: Clock,
}

/// How a queue's [`Time`]s map to the wall clock.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// A persisted queue: time zero is this Unix time (ms).
    Wall(u64),
    /// A service's clock (virtual in its default mode): shown as offsets.
    Service,
}

/// `bitsim jobs VERB ...`; returns the exit status.
pub fn run(args: JobsArgs) -> i32 {
    let (target, job, result) = match &args.verb {
        Verb::List(t) => (t, None, list(t)),
        Verb::Info(o) => (&o.target, Some(o.id), info(&o.target, o.id)),
        Verb::Cancel(o) => (&o.target, Some(o.id), act(&o.target, o.id, Act::Cancel)),
        Verb::Complete(o) => (&o.target, Some(o.id), act(&o.target, o.id, Act::Complete)),
        Verb::Resume(o) => (&o.target, Some(o.id), act(&o.target, o.id, Act::Resume)),
        Verb::Suspend(o) => (&o.target, Some(o.id), act(&o.target, o.id, Act::Suspend)),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Bits { method, code }) => {
            if target.json {
                outln!(
                    "{}",
                    json!({"job": job, "method": method, "hresult": hresult_json(code),
                           "message": code.message()})
                );
            }
            eprintln!("error: {method}: {code}: {}", code.message());
            1
        }
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e}");
            2
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn caller(t: &Target) -> Caller {
    Caller {
        user: bitsim_model::UserId::new(t.user.clone().unwrap_or_else(crate::transfer::whoami)),
        admin: t.admin,
    }
}

fn bits(method: &str) -> impl Fn(bitsim_model::Error) -> Failure + '_ {
    move |e| Failure::Bits {
        method: method.to_owned(),
        code: e.code,
    }
}

// ---------------------------------------------------------------------
// The verbs
// ---------------------------------------------------------------------

fn list(t: &Target) -> Result<(), Failure> {
    let me = caller(t);
    let flags = if me.admin { BG_JOB_ENUM_ALL_USERS } else { 0 };
    let jobs: Vec<Shown> = match source(t)? {
        Source::State(path) => {
            let (m, clock) = snapshot(&path)?;
            let ids = m.enum_jobs(&me, flags).map_err(bits("EnumJobs"))?;
            ids.iter()
                .filter_map(|id| m.job(*id).cloned())
                .map(|job| Shown { job, clock })
                .collect()
        }
        Source::Service(mut s) => {
            s.hello(&me)?;
            let r = s.bits("EnumJobs", "manager.enum_jobs", json!({"flags": flags}))?;
            let ids: Vec<JobId> = serde_json::from_value(r["value"].clone())
                .map_err(|e| Failure::Other(format!("EnumJobs: unexpected answer {r}: {e}")))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(Shown {
                    job: s.record(id)?,
                    clock: Clock::Service,
                });
            }
            out
        }
    };
    if t.json {
        let rows: Vec<Value> = jobs.iter().map(list_json).collect();
        outln!("{}", json!({ "jobs": rows }));
    } else {
        for s in &jobs {
            outln!("{}", list_line(&s.job));
        }
    }
    Ok(())
}

fn info(t: &Target, id: JobId) -> Result<(), Failure> {
    let me = caller(t);
    let shown = match source(t)? {
        Source::State(path) => {
            let (m, clock) = snapshot(&path)?;
            let job = m.get_job(&me, id).map_err(bits("GetJob"))?.clone();
            Shown { job, clock }
        }
        Source::Service(mut s) => {
            s.hello(&me)?;
            s.bits("GetJob", "manager.get_job", json!({"job": id}))?;
            Shown {
                job: s.record(id)?,
                clock: Clock::Service,
            }
        }
    };
    if t.json {
        outln!("{}", info_json(&shown));
    } else {
        for line in info_lines(&shown) {
            outln!("{line}");
        }
    }
    Ok(())
}

fn act(t: &Target, id: JobId, what: Act) -> Result<(), Failure> {
    let me = caller(t);
    let (code, state) = match source(t)? {
        Source::State(path) => act_on_state(&path, &me, id, what)?,
        Source::Service(mut s) => {
            s.hello(&me)?;
            s.bits("GetJob", "manager.get_job", json!({"job": id}))?;
            let r = s.bits(
                what.method(),
                &format!("job.{}", what.call()),
                json!({"job": id}),
            )?;
            let code = r["hresult"]["value"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map_or(Hresult::S_OK, Hresult);
            let state = s.record(id).ok().map(|j| j.state);
            (code, state)
        }
    };
    if t.json {
        outln!(
            "{}",
            json!({"job": id, "method": what.method(), "hresult": hresult_json(code),
                   "state": state})
        );
    } else {
        let state = state.map_or_else(String::new, |s| format!("; the job is {}", s.short_name()));
        outln!("{} {id}: {code}{state}", what.method());
    }
    Ok(())
}

/// A changing verb on a persisted queue: open it held (lock, X2), call,
/// let the effects run, persist, close.
fn act_on_state(
    path: &Path,
    me: &Caller,
    id: JobId,
    what: Act,
) -> Result<(Hresult, Option<JobState>), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("starting the tokio runtime: {e}")))?;
    rt.block_on(async {
        let cfg = RtConfig {
            state_file: Some(path.to_path_buf()),
            ..RtConfig::default()
        };
        let mut d = Driver::open_held(cfg).map_err(|e| Failure::Other(open_error(path, &e)))?;
        if let Err(e) = d.manager().get_job(me, id) {
            d.shutdown();
            return Err(bits("GetJob")(e));
        }
        let r = match what {
            Act::Cancel => d.call(|m, now| m.cancel(now, me, id)),
            Act::Complete => d.complete(me, id),
            Act::Resume => d.call(|m, now| m.resume(now, me, id).map(|()| Hresult::S_OK)),
            Act::Suspend => d.call(|m, now| m.suspend(now, me, id).map(|()| Hresult::S_OK)),
        };
        if r.is_ok() && what == Act::Cancel {
            // An upload with a server session: the model keeps the job
            // until the server acknowledged Cancel-Session (X3); wait for
            // it so the session does not linger on the server.
            let done = d
                .run_until(CANCEL_WAIT, |m| {
                    m.job(id).is_none_or(|j| !j.cancelling_upload)
                })
                .await;
            if !done {
                eprintln!(
                    "warning: the server did not acknowledge Cancel-Session within {} s; it drops the session when it expires",
                    CANCEL_WAIT.as_secs()
                );
            }
        }
        let state = d.manager().job(id).map(|j| j.state);
        d.shutdown();
        r.map(|code| (code, state)).map_err(bits(what.method()))
    })
}

/// How long a cancelled upload may take to tell its server.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

fn open_error(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        // The lock's own message names the queue and the process.
        std::io::ErrorKind::ResourceBusy => e.to_string(),
        _ => format!("opening the queue {}: {e}", path.display()),
    }
}

// ---------------------------------------------------------------------
// Where the queue is
// ---------------------------------------------------------------------

enum Source {
    State(PathBuf),
    Service(Client),
}

/// The state file behind `--state PATH`: PATH itself, or PATH/queue.json
/// for a directory. A path with no queue is a usage error: a changing verb
/// must not create an empty queue there.
fn state_file(path: &Path) -> Result<PathBuf, Failure> {
    let file = if path.is_dir() {
        path.join(QUEUE_FILE)
    } else {
        path.to_path_buf()
    };
    if !file.is_file() {
        return Err(Failure::Usage(if path.is_dir() {
            format!(
                "{} has no {QUEUE_FILE}: not a queue directory",
                path.display()
            )
        } else {
            format!(
                "no queue at {} (`bitsim download --state FILE` creates one)",
                path.display()
            )
        }));
    }
    Ok(file)
}

/// The state file's name in a state directory (`bitsim service --state DIR`).
const QUEUE_FILE: &str = "queue.json";

fn source(t: &Target) -> Result<Source, Failure> {
    match (&t.state, &t.service) {
        (Some(p), _) => Ok(Source::State(state_file(p)?)),
        (None, Some(addr)) => Ok(Source::Service(Client::connect(addr)?)),
        (None, None) => Err(Failure::Usage("give --state PATH or --service ADDR".into())),
    }
}

fn snapshot(path: &Path) -> Result<(Manager, Clock), Failure> {
    let q = read_queue(path)
        .map_err(|e| Failure::Other(format!("reading the queue {}: {e}", path.display())))?;
    Ok((q.manager, Clock::Wall(q.epoch_unix_ms)))
}

/// A JSON-RPC client of `bitsim service` (one message per line).
struct Client {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next: u64,
}

/// How long the service may take to answer one call.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(30);

impl Client {
    fn connect(addr: &str) -> Result<Client, Failure> {
        let fail = |e: std::io::Error| {
            Failure::Other(format!("cannot connect to the service at {addr}: {e}"))
        };
        let s = TcpStream::connect(addr).map_err(fail)?;
        s.set_read_timeout(Some(SERVICE_TIMEOUT)).map_err(fail)?;
        let writer = s.try_clone().map_err(fail)?;
        Ok(Client {
            addr: addr.to_owned(),
            reader: BufReader::new(s),
            writer,
            next: 1,
        })
    }

    /// One request; its `result`, or a failure naming the method.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        let id = self.next;
        self.next += 1;
        let lost = |e: std::io::Error, addr: &str| {
            Failure::Other(format!("{method}: the service at {addr}: {e}"))
        };
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.writer, "{msg}").map_err(|e| lost(e, &self.addr))?;
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| lost(e, &self.addr))?;
            if n == 0 {
                return Err(Failure::Other(format!(
                    "{method}: the service at {} closed the connection",
                    self.addr
                )));
            }
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| Failure::Other(format!("{method}: not JSON from the service: {e}")))?;
            // Anything else (a request from the service) is not ours: this
            // client registers no callback, so none is expected.
            if v.get("id") != Some(&json!(id)) || v.get("method").is_some() {
                continue;
            }
            if let Some(e) = v.get("error") {
                return Err(Failure::Other(format!(
                    "{method}: the service refused the call: {}",
                    e["message"].as_str().unwrap_or("(no message)")
                )));
            }
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    fn hello(&mut self, me: &Caller) -> Result<(), Failure> {
        self.request(
            "session.hello",
            json!({"user": me.user.0, "admin": me.admin}),
        )
        .map(drop)
    }

    /// A BITS call: its result, or [`Failure::Bits`] with the HRESULT the
    /// service returned.
    fn bits(&mut self, name: &str, method: &str, params: Value) -> Result<Value, Failure> {
        let r = self.request(method, params)?;
        let code = r["hresult"]["value"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Hresult)
            .ok_or_else(|| Failure::Other(format!("{method}: no HRESULT in the answer {r}")))?;
        if code.is_failure() {
            return Err(Failure::Bits {
                method: name.to_owned(),
                code,
            });
        }
        Ok(r)
    }

    /// The model's record of a job the caller could get (checked before).
    fn record(&mut self, id: JobId) -> Result<Job, Failure> {
        let r = self.request("inspect.job", json!({"job": id}))?;
        serde_json::from_value(r)
            .map_err(|e| Failure::Other(format!("inspect.job: unexpected record: {e}")))
    }
}

// ---------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------

fn bytes(done: u64, total: u64) -> String {
    if total == BG_SIZE_UNKNOWN {
        format!("{done}/?")
    } else {
        format!("{done}/{total}")
    }
}

/// `{GUID} STATE owner bytes files name`: one line per job.
fn list_line(j: &Job) -> String {
    let p = j.progress();
    format!(
        "{} {} {} {} {}/{} {}",
        j.id,
        j.state.short_name(),
        j.owner.0,
        bytes(p.bytes_transferred, p.bytes_total),
        p.files_transferred,
        p.files_total,
        j.display_name
    )
}

fn list_json(s: &Shown) -> Value {
    let j = &s.job;
    let p = j.progress();
    json!({
        "job": j.id, "state": j.state, "owner": j.owner, "type": j.job_type,
        "bytes_transferred": p.bytes_transferred,
        "bytes_total": (p.bytes_total != BG_SIZE_UNKNOWN).then_some(p.bytes_total),
        "files_transferred": p.files_transferred, "files_total": p.files_total,
        "display_name": j.display_name,
    })
}

fn when(t: Time, clock: Clock) -> String {
    match clock {
        Clock::Wall(epoch) => utc(epoch.saturating_add(t.0)),
        Clock::Service => format!("{t} (service clock)"),
    }
}

fn when_json(t: Time, clock: Clock) -> Value {
    match clock {
        Clock::Wall(epoch) => json!({"ms": t.0, "utc": utc(epoch.saturating_add(t.0))}),
        Clock::Service => json!({"ms": t.0, "text": t.to_string()}),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time in ms (the proleptic
/// Gregorian calendar; no time-zone database needed).
fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn flags_text(f: NotifyFlags) -> String {
    let names: Vec<&str> = NotifyFlags::NAMES
        .iter()
        .filter(|(_, bit)| f.0 & bit.0 != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        format!("{f}")
    } else {
        format!("{f} ({})", names.join("|"))
    }
}

fn file_name(j: &Job, f: FileRef) -> String {
    match f {
        FileRef::File(i) => j.files.get(i).map_or_else(
            || format!("file {i}"),
            |x| format!("file {i}: {} -> {}", x.remote_name, x.local_name),
        ),
        FileRef::Reply => "the reply".to_owned(),
    }
}

fn info_lines(s: &Shown) -> Vec<String> {
    let (j, clock) = (&s.job, s.clock);
    let p = j.progress();
    let mut out = vec![
        format!("job: {}", j.id),
        format!("display name: {}", j.display_name),
        format!("type: {}", j.job_type.short_name()),
        format!("state: {}", j.state.short_name()),
        format!("owner: {}", j.owner.0),
        format!("priority: {}", j.priority.short_name()),
        format!(
            "progress: {} bytes, {}/{} files",
            bytes(p.bytes_transferred, p.bytes_total),
            p.files_transferred,
            p.files_total
        ),
        format!("created: {}", when(j.times.creation_time, clock)),
        format!("modified: {}", when(j.times.modification_time, clock)),
        format!(
            "transfer completed: {}",
            j.times
                .transfer_completion_time
                .map_or_else(|| "-".to_owned(), |t| when(t, clock))
        ),
    ];
    match &j.error {
        Some(e) => {
            let file = e
                .file
                .map(|f| format!(" ({})", file_name(j, f)))
                .unwrap_or_default();
            out.push(format!(
                "error: context {} ({}), {}: {}{file}",
                e.context.short_name(),
                e.context_description(),
                e.code,
                e.code.message()
            ));
        }
        None => out.push("error: -".to_owned()),
    }
    out.push(format!("error count: {}", j.error_count));
    out.push(format!(
        "next retry: {}",
        j.timers
            .retry_at
            .map_or_else(|| "-".to_owned(), |t| when(t, clock))
    ));
    out.push(format!(
        "retry delay: {} s; no-progress timeout: {} s",
        j.minimum_retry_delay.as_secs(),
        j.no_progress_timeout.as_secs()
    ));
    out.push(format!("notify flags: {}", flags_text(j.notify_flags)));
    out.push(format!(
        "notify command line: {}",
        j.notify_cmd_line.as_ref().map_or_else(
            || "-".to_owned(),
            |c| match &c.parameters {
                Some(p) => format!("{} {p}", c.program),
                None => c.program.clone(),
            }
        )
    ));
    for (i, f) in j.files.iter().enumerate() {
        let status = if f.completed {
            "completed"
        } else if f.transferred {
            "transferred"
        } else {
            "pending"
        };
        out.push(format!(
            "file {i}: {} -> {} {} bytes {status}",
            f.remote_name,
            f.local_name,
            bytes(f.bytes_transferred, f.bytes_total)
        ));
    }
    if let Some(r) = &j.reply {
        out.push(format!(
            "reply: {} {} bytes{}",
            r.file_name.as_deref().unwrap_or("(no file name)"),
            bytes(r.bytes_transferred, r.bytes_total),
            if r.done { " done" } else { "" }
        ));
    }
    out
}

fn info_json(s: &Shown) -> Value {
    let (j, clock) = (&s.job, s.clock);
    let p = j.progress();
    let error = j.error.as_ref().map(|e| {
        json!({
            "context": e.context, "context_description": e.context_description(),
            "hresult": hresult_json(e.code), "message": e.code.message(),
            "file": e.file,
        })
    });
    let files: Vec<Value> = j
        .files
        .iter()
        .map(|f| {
            json!({
                "remote_name": f.remote_name, "local_name": f.local_name,
                "bytes_transferred": f.bytes_transferred,
                "bytes_total": (f.bytes_total != BG_SIZE_UNKNOWN).then_some(f.bytes_total),
                "transferred": f.transferred, "completed": f.completed,
            })
        })
        .collect();
    json!({
        "job": j.id, "display_name": j.display_name, "description": j.description,
        "type": j.job_type, "state": j.state, "owner": j.owner, "priority": j.priority,
        "progress": {
            "bytes_transferred": p.bytes_transferred,
            "bytes_total": (p.bytes_total != BG_SIZE_UNKNOWN).then_some(p.bytes_total),
            "files_transferred": p.files_transferred, "files_total": p.files_total,
        },
        "times": {
            "creation": when_json(j.times.creation_time, clock),
            "modification": when_json(j.times.modification_time, clock),
            "transfer_completion": j.times.transfer_completion_time.map(|t| when_json(t, clock)),
        },
        "error": error,
        "error_count": j.error_count,
        "next_retry": j.timers.retry_at.map(|t| when_json(t, clock)),
        "minimum_retry_delay_s": j.minimum_retry_delay.as_secs(),
        "no_progress_timeout_s": j.no_progress_timeout.as_secs(),
        "notify_flags": j.notify_flags.0,
        "notify_cmd_line": j.notify_cmd_line,
        "files": files,
        "reply": j.reply.as_ref().map(|r| json!({
            "file_name": r.file_name, "bytes_transferred": r.bytes_transferred,
            "bytes_total": (r.bytes_total != BG_SIZE_UNKNOWN).then_some(r.bytes_total),
            "done": r.done,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.
        assert_eq!(utc(951_827_696_000), "2000-02-29 12:34:56 UTC");
        assert_eq!(utc(1_798_761_600_000), "2027-01-01 00:00:00 UTC");
    }

    #[test]
    fn a_bad_guid_is_named() {
        let e = parse_job("not-a-guid").unwrap_err();
        assert!(e.contains("\"not-a-guid\" is not a job GUID"), "{e}");
        let id = parse_job("{6F1B2C3D-0000-4000-8000-000000000001}").unwrap();
        assert_eq!(
            parse_job("6f1b2c3d-0000-4000-8000-000000000001").unwrap(),
            id
        );
    }
}
