//! `bitsadmin.exe`'s BITS client (Windows only): the command line of
//! [`crate::bitsadmin`], performed with `CoCreateInstance(
//! CLSID_BackgroundCopyManager, CLSCTX_LOCAL_SERVER)` and the job
//! interfaces, against whatever serves BITS in the prefix.

// COM: CoTaskMem strings, raw out-parameters, a vtable call for the
// success code of Complete.
#![allow(unsafe_code)]

use crate::bitsadmin::{self, Action, Command, FileView, JobRef, JobView};
use crate::proto;
use windows::Win32::Networking::BackgroundIntelligentTransferService::{
    BG_ERROR_CONTEXT, BG_FILE_PROGRESS, BG_JOB_ENUM_ALL_USERS, BG_JOB_PROGRESS, BG_JOB_STATE_ERROR,
    BG_JOB_STATE_TRANSIENT_ERROR, BackgroundCopyManager, IBackgroundCopyJob, IBackgroundCopyJob2,
    IBackgroundCopyManager,
};
use windows::Win32::System::Com::{
    CLSCTX_LOCAL_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx, CoTaskMemFree,
};
use windows::core::{Error, GUID, HRESULT, Interface, PWSTR};

/// A failure, as printed (stderr) and the exit status.
struct Failed(String, i32);

type Done<T> = std::result::Result<T, Failed>;

/// Runs `bitsadmin ARGS` (the arguments after the program's name); the
/// exit status: 0 done, 1 a BITS call failed, 2 a command line it does not
/// take.
pub fn main(args: &[String]) -> i32 {
    let inv = match bitsadmin::parse(args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("bitsadmin: {e} (bitsadmin /? lists what it takes)");
            return 2;
        }
    };
    if !inv.raw {
        out(bitsadmin::BANNER);
    }
    if inv.command == Command::Help {
        out(bitsadmin::USAGE);
        return 0;
    }
    match run(&inv.command) {
        Ok(lines) => {
            for l in lines {
                out(&l);
            }
            0
        }
        Err(Failed(text, code)) => {
            eprintln!("{text}");
            code
        }
    }
}

/// A line of bitsadmin's output, on stdout (its product, not a log).
fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn run(command: &Command) -> Done<Vec<String>> {
    // SAFETY: this thread joins the MTA for the life of the process.
    let r = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    if r.is_err() {
        return Err(Failed(bitsadmin::unable("initialize COM", r.0, ""), 1));
    }
    // SAFETY: a plain activation; the interface is checked by COM.
    let manager: IBackgroundCopyManager =
        unsafe { CoCreateInstance(&BackgroundCopyManager, None, CLSCTX_LOCAL_SERVER) }.map_err(
            |e| {
                Failed(
                    bitsadmin::unable("connect to BITS", e.code().0, &e.message()),
                    1,
                )
            },
        )?;
    let m = &manager;
    match command {
        Command::List { all_users, verbose } => {
            let flags = if *all_users { BG_JOB_ENUM_ALL_USERS } else { 0 };
            let jobs = jobs(m, flags).map_err(|e| failed(m, "enumerate jobs", &e))?;
            let mut lines = Vec::new();
            for j in &jobs {
                let v = view(m, j, *verbose).map_err(|e| failed(m, "read a job", &e))?;
                if *verbose {
                    lines.extend(bitsadmin::verbose(&v));
                    lines.push(String::new());
                } else {
                    lines.push(bitsadmin::line(&v));
                }
            }
            lines.push(bitsadmin::listed(jobs.len()));
            Ok(lines)
        }
        Command::Info { job, verbose } => {
            let j = find(m, job)?;
            let v = view(m, &j, *verbose).map_err(|e| failed(m, "read the job", &e))?;
            Ok(if *verbose {
                bitsadmin::verbose(&v)
            } else {
                vec![bitsadmin::line(&v)]
            })
        }
        Command::Act(action, job) => {
            let j = find(m, job)?;
            let hr = act(&j, *action);
            if hr.is_err() {
                let e = Error::from_hresult(hr);
                return Err(failed(m, &format!("{} job", action.verb()), &e));
            }
            Ok(vec![action.done(hr.0).to_owned()])
        }
        Command::Help => Ok(Vec::new()),
    }
}

/// Calls the job's method and returns its HRESULT whole (Complete's
/// `BG_S_PARTIAL_COMPLETE` is a success the `Result` API would drop).
fn act(job: &IBackgroundCopyJob, action: Action) -> HRESULT {
    let vtable = job.vtable();
    let this = job.as_raw();
    // SAFETY: methods of a live interface pointer, called with it.
    unsafe {
        match action {
            Action::Complete => (vtable.Complete)(this),
            Action::Cancel => (vtable.Cancel)(this),
            Action::Resume => (vtable.Resume)(this),
            Action::Suspend => (vtable.Suspend)(this),
        }
    }
}

/// `Unable to WHAT - 0xHRESULT` with the manager's description of it (the
/// error object's own text is not used: Wine's proxy drops it).
fn failed(m: &IBackgroundCopyManager, what: &str, e: &Error) -> Failed {
    Failed(
        bitsadmin::unable(what, e.code().0, &describe(m, e.code())),
        1,
    )
}

fn describe(m: &IBackgroundCopyManager, code: HRESULT) -> String {
    // SAFETY: an out-string from the callee, freed by `take`.
    match unsafe { m.GetErrorDescription(code, 0) } {
        Ok(p) => take(p),
        Err(_) => String::new(),
    }
}

/// A CoTaskMem string, read and freed.
fn take(p: PWSTR) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated string the callee allocated with
    // CoTaskMemAlloc, freed once here.
    unsafe {
        let s = p.to_string().unwrap_or_default();
        CoTaskMemFree(Some(p.0.cast()));
        s
    }
}

/// Every job `EnumJobs(flags)` gives.
fn jobs(m: &IBackgroundCopyManager, flags: u32) -> windows::core::Result<Vec<IBackgroundCopyJob>> {
    // SAFETY: COM calls on live interfaces; `Next` fills one slot.
    unsafe {
        let e = m.EnumJobs(flags)?;
        drain(|slot| e.Next(slot, std::ptr::null_mut()))
    }
}

/// Everything an enumerator's `next` (its `Next` with one slot) gives:
/// one at a time, without the fetched count (Wine's proxy does not bring
/// it back), so the slot filled or not says whether there was one.
fn drain<T>(
    mut next: impl FnMut(&mut [Option<T>]) -> windows::core::Result<()>,
) -> windows::core::Result<Vec<T>> {
    let mut out = Vec::new();
    loop {
        let mut slot = [None];
        next(&mut slot)?;
        match slot[0].take() {
            Some(t) => out.push(t),
            None => return Ok(out),
        }
    }
}

/// The job a command line names: by GUID (`GetJob`), or the one job of
/// the user with that display name.
fn find(m: &IBackgroundCopyManager, job: &JobRef) -> Done<IBackgroundCopyJob> {
    match job {
        JobRef::Id(id) => {
            let guid = GUID::from_u128(proto::job_to_u128(*id));
            // SAFETY: a COM call with a GUID that outlives it.
            unsafe { m.GetJob(&guid) }.map_err(|e| failed(m, &format!("find job {job}"), &e))
        }
        JobRef::Name(name) => {
            let all = jobs(m, 0).map_err(|e| failed(m, "enumerate jobs", &e))?;
            let mut named = Vec::new();
            for j in all {
                // SAFETY: a COM call on a live interface.
                let n = unsafe { j.GetDisplayName() }.map(take).unwrap_or_default();
                if &n == name {
                    named.push(j);
                }
            }
            match named.len() {
                1 => Ok(named.remove(0)),
                0 => Err(Failed(format!("Unable to find job named '{name}'"), 1)),
                n => {
                    let ids: Vec<String> = named
                        .iter()
                        // SAFETY: a COM call on a live interface.
                        .filter_map(|j| unsafe { j.GetId() }.ok())
                        .map(|g| proto::job_from_u128(g.to_u128()).to_string())
                        .collect();
                    Err(Failed(
                        format!(
                            "{n} jobs are named '{name}' ({}): name the job by its GUID",
                            ids.join(", ")
                        ),
                        1,
                    ))
                }
            }
        }
    }
}

/// What bitsadmin shows of a job (the `verbose` parts only when asked).
fn view(
    m: &IBackgroundCopyManager,
    j: &IBackgroundCopyJob,
    verbose: bool,
) -> windows::core::Result<JobView> {
    // SAFETY: COM calls on live interfaces; out-parameters are locals;
    // strings are freed by `take`.
    unsafe {
        let mut p = BG_JOB_PROGRESS::default();
        j.GetProgress(&mut p)?;
        let mut v = JobView {
            id: proto::job_from_u128(j.GetId()?.to_u128()),
            name: take(j.GetDisplayName()?),
            job_type: j.GetType()?.0,
            state: j.GetState()?.0,
            owner: String::new(),
            priority: 0,
            files_done: p.FilesTransferred,
            files_total: p.FilesTotal,
            bytes_done: p.BytesTransferred,
            bytes_total: p.BytesTotal,
            error_count: 0,
            retry_delay: 0,
            no_progress_timeout: 0,
            notify_flags: 0,
            description: String::new(),
            cmd_line: None,
            error: None,
            files: Vec::new(),
        };
        if !verbose {
            return Ok(v);
        }
        v.owner = take(j.GetOwner()?);
        v.priority = j.GetPriority()?.0;
        v.error_count = j.GetErrorCount()?;
        v.retry_delay = j.GetMinimumRetryDelay()?;
        v.no_progress_timeout = j.GetNoProgressTimeout()?;
        v.notify_flags = j.GetNotifyFlags()?;
        v.description = take(j.GetDescription()?);
        if let Ok(j2) = j.cast::<IBackgroundCopyJob2>() {
            let (mut program, mut parameters) = (PWSTR::null(), PWSTR::null());
            if j2.GetNotifyCmdLine(&mut program, &mut parameters).is_ok() && !program.is_null() {
                v.cmd_line = Some((take(program), take(parameters)));
            }
        }
        if (v.state == BG_JOB_STATE_ERROR.0 || v.state == BG_JOB_STATE_TRANSIENT_ERROR.0)
            && let Ok(e) = j.GetError()
        {
            let (mut context, mut code) = (BG_ERROR_CONTEXT::default(), HRESULT(0));
            if e.GetError(&mut context, &mut code).is_ok() {
                v.error = Some((context.0, code.0, describe(m, code)));
            }
        }
        let files = j.EnumFiles()?;
        for f in drain(|slot| files.Next(slot, std::ptr::null_mut()))? {
            let mut fp = BG_FILE_PROGRESS::default();
            f.GetProgress(&mut fp)?;
            v.files.push(FileView {
                remote: take(f.GetRemoteName()?),
                local: take(f.GetLocalName()?),
                done: fp.BytesTransferred,
                total: fp.BytesTotal,
                completed: fp.Completed.as_bool(),
            });
        }
        Ok(v)
    }
}
