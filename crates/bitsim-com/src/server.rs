//! The COM objects of `bitsim-com.exe` and its `main` (Windows only).
//!
//! Every object holds the process's one [`Connection`] to `bitsim service`
//! and forwards each method to it; what comes back is the model's reply or
//! its HRESULT, returned unchanged. The server's lifetime follows COM's
//! rules for an EXE server: it stays while an object or a `LockServer`
//! lock is alive, and leaves a few seconds after the last one goes.

// COM: raw out-parameters, CoTaskMem strings, FFI registration.
#![allow(unsafe_code)]

use crate::identity::{self, Identity};
use crate::paths;
use crate::proto::{self, CallError, Connection, Notification};
use bitsim_model::{ErrorContext, ErrorInfo, FileEntry, FileRef, Hresult, JobId, JobType, Reply};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use windows::Win32::Foundation::{
    CLASS_E_NOAGGREGATION, E_INVALIDARG, E_NOTIMPL, E_OUTOFMEMORY, FILETIME, S_FALSE,
};
use windows::Win32::Networking::BackgroundIntelligentTransferService::{
    BG_AUTH_CREDENTIALS, BG_AUTH_SCHEME, BG_AUTH_TARGET, BG_ERROR_CONTEXT, BG_FILE_INFO,
    BG_FILE_PROGRESS, BG_FILE_RANGE, BG_JOB_PRIORITY, BG_JOB_PROGRESS, BG_JOB_PROXY_USAGE,
    BG_JOB_REPLY_PROGRESS, BG_JOB_STATE, BG_JOB_TIMES, BG_JOB_TYPE, BackgroundCopyManager,
    IBackgroundCopyCallback, IBackgroundCopyCallback2, IBackgroundCopyError,
    IBackgroundCopyError_Impl, IBackgroundCopyFile, IBackgroundCopyFile_Impl, IBackgroundCopyFile2,
    IBackgroundCopyFile2_Impl, IBackgroundCopyJob, IBackgroundCopyJob_Impl,
    IBackgroundCopyJob2_Impl, IBackgroundCopyJob3, IBackgroundCopyJob3_Impl,
    IBackgroundCopyManager, IBackgroundCopyManager_Impl, IEnumBackgroundCopyFiles,
    IEnumBackgroundCopyFiles_Impl, IEnumBackgroundCopyJobs, IEnumBackgroundCopyJobs_Impl,
};
use windows::Win32::System::Com::{
    CLSCTX_LOCAL_SERVER, COINIT_MULTITHREADED, CoInitializeEx, CoRegisterClassObject,
    CoRevokeClassObject, CoTaskMemAlloc, IClassFactory, IClassFactory_Impl, REGCLS_MULTIPLEUSE,
};
use windows::Win32::System::Registry::{HKEY_LOCAL_MACHINE, RRF_RT_REG_SZ, RegGetValueW};
use windows::core::{
    BOOL, Error, GUID, HRESULT, IUnknown, Interface, OutRef, PCWSTR, PWSTR, Ref, Result, implement,
};

/// The AppID a fresh Wine prefix gives the CLSID (its `LocalService` is
/// `BITS`); `uninstall` puts it back.
pub const WINE_APPID: &str = "{69AD4AEE-51BE-439B-A92C-86AE490E8B30}";

/// `CLSID_BackgroundCopyManager` as the registry spells it.
pub const CLSID_TEXT: &str = "{4991D34B-80A1-4291-83B6-3328366B9097}";

/// Objects and locks alive in this process; the server leaves when it has
/// been zero for [`linger`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The process's connections to the service, one per identity (user,
/// administrator), each opened by the first manager of a program of that
/// identity.
static CONNS: Mutex<BTreeMap<Identity, Arc<Connection>>> = Mutex::new(BTreeMap::new());

/// The callback object the program registered per job
/// (`SetNotifyInterface`).
static CALLBACKS: Mutex<BTreeMap<JobId, Callback>> = Mutex::new(BTreeMap::new());

/// A callback object registered by the program: a proxy of the MTA, which
/// any MTA thread of this process may call (COM's rule for the MTA).
struct Callback(IUnknown);
// SAFETY: the proxy was unmarshalled into the MTA, where it may be used from
// every thread; it is only called from MTA threads (the notification thread
// enters the MTA first).
unsafe impl Send for Callback {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts an object or a lock as alive for as long as it exists.
struct Live;

impl Live {
    fn new() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

fn hr(h: Hresult) -> HRESULT {
    HRESULT(h.as_i32())
}

fn fail(e: CallError) -> Error {
    tracing::debug!("{e}");
    Error::from_hresult(hr(e.hresult))
}

/// Sets the string value `name` of `HKLM\Software\bitsim` (with reg.exe,
/// as `install` writes the rest); whether it was set.
fn set_registry_value(name: &str, value: &str) -> bool {
    reg(&[
        "add",
        &format!("HKLM\\{}", proto::REGISTRY_KEY),
        "/v",
        name,
        "/d",
        value,
        "/f",
    ])
}

/// The string value `name` of `HKLM\Software\bitsim`, if set.
fn registry_value(name: &str) -> Option<String> {
    let key = wide(proto::REGISTRY_KEY);
    let value = wide(name);
    let mut buf = [0u16; 1024];
    let mut size = u32::try_from(std::mem::size_of_val(&buf)).unwrap_or(0);
    // SAFETY: the buffer and its size in bytes are passed together.
    let r = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            PCWSTR(key.as_ptr()),
            PCWSTR(value.as_ptr()),
            RRF_RT_REG_SZ,
            None,
            Some(buf.as_mut_ptr().cast()),
            Some(&mut size),
        )
    };
    if r.is_err() {
        return None;
    }
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    Some(String::from_utf16_lossy(&buf[..n]))
}

/// Who is calling: the identity in the environment of the program whose
/// call this thread serves (module `caller`), else this server's own.
fn caller_identity() -> Identity {
    let from_caller = crate::caller::calling_process().and_then(|pid| {
        let block = crate::caller::environment_of(pid);
        if block.is_none() {
            tracing::debug!(pid, "cannot read the calling program's environment");
        }
        block.map(|b| (pid, b))
    });
    match from_caller {
        Some((pid, block)) => {
            let id = Identity::from_env(|n| identity::env_lookup(&block, n));
            tracing::debug!(pid, user = %id.user, admin = id.admin, "caller");
            id
        }
        None => Identity::from_env(|n| std::env::var(n).ok()),
    }
}

/// The connection of `id`, opened on first use and again after it broke
/// (the service's jobs outlive a connection).
fn connection(id: &Identity) -> std::result::Result<Arc<Connection>, CallError> {
    let mut conns = lock(&CONNS);
    if let Some(conn) = conns.get(id)
        && conn.is_alive()
    {
        return Ok(conn.clone());
    }
    let env = std::env::var(proto::ENV_SERVICE).ok();
    let addr = proto::service_address(
        env.as_deref(),
        registry_value(proto::REGISTRY_VALUE).as_deref(),
    )?;
    let conn = Connection::connect(addr, &id.user, id.admin, Box::new(notified))?;
    conns.insert(id.clone(), conn.clone());
    Ok(conn)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A string the caller frees with `CoTaskMemFree`, as BITS returns them.
fn co_string(s: &str) -> Result<PWSTR> {
    let w = wide(s);
    // SAFETY: the allocation has room for every unit of `w`, NUL included.
    unsafe {
        let p = CoTaskMemAlloc(w.len() * 2).cast::<u16>();
        if p.is_null() {
            return Err(E_OUTOFMEMORY.into());
        }
        std::ptr::copy_nonoverlapping(w.as_ptr(), p, w.len());
        Ok(PWSTR(p))
    }
}

fn read_string(s: &PCWSTR) -> Result<String> {
    if s.is_null() {
        return Err(E_INVALIDARG.into());
    }
    // SAFETY: COM hands a NUL-terminated string valid for the call.
    unsafe { s.to_string() }.map_err(|_| E_INVALIDARG.into())
}

fn job_interface(id: JobId, conn: Arc<Connection>) -> IBackgroundCopyJob {
    let job: IBackgroundCopyJob3 = Job {
        id,
        conn,
        _live: Live::new(),
    }
    .into();
    job.into()
}

/// A string parameter that may be NULL.
fn read_optional(s: &PCWSTR) -> Result<Option<String>> {
    if s.is_null() {
        Ok(None)
    } else {
        read_string(s).map(Some)
    }
}

/// `s` as a CoTaskMem string, or NULL for `None`.
fn co_optional(s: Option<&str>) -> Result<PWSTR> {
    s.map_or(Ok(PWSTR::null()), co_string)
}

/// The class factory registered for `CLSID_BackgroundCopyManager`.
#[implement(IClassFactory)]
struct Factory;

impl IClassFactory_Impl for Factory_Impl {
    fn CreateInstance(
        &self,
        outer: Ref<'_, IUnknown>,
        riid: *const GUID,
        object: *mut *mut core::ffi::c_void,
    ) -> Result<()> {
        if object.is_null() || riid.is_null() {
            return Err(E_INVALIDARG.into());
        }
        // SAFETY: checked non-null above.
        unsafe { *object = std::ptr::null_mut() };
        if outer.is_some() {
            return Err(CLASS_E_NOAGGREGATION.into());
        }
        // The program creating its manager: its user is who the manager,
        // and every job and file reached through it, calls as.
        let conn = connection(&caller_identity()).map_err(fail)?;
        let m: IUnknown = Manager {
            conn,
            _live: Live::new(),
        }
        .into();
        // SAFETY: riid and object are the caller's, checked non-null.
        unsafe { m.query(riid, object).ok() }
    }

    fn LockServer(&self, lock: BOOL) -> Result<()> {
        if lock.as_bool() {
            LIVE.fetch_add(1, Ordering::SeqCst);
        } else {
            // An unlock without a lock must not wrap the count (the server
            // would never leave).
            let _ = LIVE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1));
        }
        Ok(())
    }
}

/// `IBackgroundCopyManager`.
#[implement(IBackgroundCopyManager)]
struct Manager {
    conn: Arc<Connection>,
    _live: Live,
}

impl IBackgroundCopyManager_Impl for Manager_Impl {
    fn CreateJob(
        &self,
        name: &PCWSTR,
        kind: BG_JOB_TYPE,
        id: *mut GUID,
        job: OutRef<'_, IBackgroundCopyJob>,
    ) -> Result<()> {
        let name = read_string(name)?;
        // Only the three BG_JOB_TYPE values reach the model; the protocol
        // cannot carry another (see the crate's README).
        let kind = u32::try_from(kind.0)
            .ok()
            .and_then(JobType::from_u32)
            .ok_or(E_INVALIDARG)?;
        let r = self
            .conn
            .bits(
                "manager.create_job",
                json!({"display_name": name, "job_type": kind}),
            )
            .map_err(fail)?;
        let Reply::Job(new) = r else {
            return Err(unexpected("CreateJob", &r));
        };
        if !id.is_null() {
            // SAFETY: the caller's out-parameter, non-null.
            unsafe { *id = GUID::from_u128(proto::job_to_u128(new)) };
        }
        job.write(Some(job_interface(new, self.conn.clone())))
    }

    fn GetJob(&self, id: *const GUID) -> Result<IBackgroundCopyJob> {
        if id.is_null() {
            return Err(E_INVALIDARG.into());
        }
        // SAFETY: non-null, the caller's GUID.
        let job = proto::job_from_u128(unsafe { (*id).to_u128() });
        let r = self
            .conn
            .bits("manager.get_job", json!({"job": job}))
            .map_err(fail)?;
        match r {
            Reply::Job(j) => Ok(job_interface(j, self.conn.clone())),
            r => Err(unexpected("GetJob", &r)),
        }
    }

    fn EnumJobs(&self, flags: u32) -> Result<IEnumBackgroundCopyJobs> {
        let r = self
            .conn
            .bits("manager.enum_jobs", json!({"flags": flags}))
            .map_err(fail)?;
        let Reply::Jobs(ids) = r else {
            return Err(unexpected("EnumJobs", &r));
        };
        let jobs = ids
            .into_iter()
            .map(|j| job_interface(j, self.conn.clone()))
            .collect();
        Ok(JobEnum(Cursor::new(jobs)).into())
    }

    fn GetErrorDescription(&self, code: HRESULT, _language: u32) -> Result<PWSTR> {
        co_string(&Hresult::from_i32(code.0).message())
    }
}

fn unexpected(method: &str, r: &Reply) -> Error {
    tracing::warn!("{method}: the service answered an unexpected reply {r:?}");
    Error::from_hresult(hr(Hresult::E_FAIL))
}

/// `IBackgroundCopyJob`, `Job2` and `Job3`: one job of the service, by
/// GUID (Wine's `qmgrprxy.dll` marshals these three).
#[implement(IBackgroundCopyJob3)]
struct Job {
    id: JobId,
    conn: Arc<Connection>,
    _live: Live,
}

impl Job {
    fn call(&self, call: &str, mut params: Value) -> Result<Reply> {
        params["job"] = json!(self.id);
        self.conn.bits(&format!("job.{call}"), params).map_err(fail)
    }

    fn done(&self, call: &str, params: Value) -> Result<()> {
        match self.call(call, params)? {
            // A success code other than S_OK (BG_S_PARTIAL_COMPLETE, ...)
            // must reach the caller as is.
            Reply::Done(h) if h != Hresult::S_OK => Err(Error::from_hresult(hr(h))),
            _ => Ok(()),
        }
    }

    fn files(&self) -> Result<Vec<FileEntry>> {
        match self.call("enum_files", json!({}))? {
            Reply::Files(f) => Ok(f),
            r => Err(unexpected("EnumFiles", &r)),
        }
    }
}

fn text(r: Reply, method: &str) -> Result<PWSTR> {
    match r {
        Reply::Text(s) => co_string(&s),
        Reply::Owner(u) => co_string(&u.0),
        r => Err(unexpected(method, &r)),
    }
}

fn number(r: Reply, method: &str) -> Result<u32> {
    match r {
        Reply::Seconds(n) | Reply::Count(n) => Ok(n),
        Reply::Flags(f) => Ok(f.0),
        r => Err(unexpected(method, &r)),
    }
}

impl IBackgroundCopyJob_Impl for Job_Impl {
    fn AddFileSet(&self, _count: u32, _files: *const BG_FILE_INFO) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn AddFile(&self, remote: &PCWSTR, local: &PCWSTR) -> Result<()> {
        let (remote, local) = (read_string(remote)?, read_string(local)?);
        let local = paths::to_unix(&local);
        self.done("add_file", json!({"remote": remote, "local": local}))
    }

    fn EnumFiles(&self) -> Result<IEnumBackgroundCopyFiles> {
        let n = self.files()?.len();
        let files = (0..n)
            .map(|i| file_interface(self.id, i, self.conn.clone()))
            .collect();
        Ok(FileEnum(Cursor::new(files)).into())
    }

    fn Suspend(&self) -> Result<()> {
        self.done("suspend", json!({}))
    }

    fn Resume(&self) -> Result<()> {
        self.done("resume", json!({}))
    }

    fn Cancel(&self) -> Result<()> {
        self.done("cancel", json!({}))
    }

    fn Complete(&self) -> Result<()> {
        self.done("complete", json!({}))
    }

    fn GetId(&self) -> Result<GUID> {
        Ok(GUID::from_u128(proto::job_to_u128(self.id)))
    }

    fn GetType(&self) -> Result<BG_JOB_TYPE> {
        match self.call("get_type", json!({}))? {
            Reply::Type(t) => Ok(BG_JOB_TYPE(t.as_u32() as i32)),
            r => Err(unexpected("GetType", &r)),
        }
    }

    fn GetProgress(&self, out: *mut BG_JOB_PROGRESS) -> Result<()> {
        if out.is_null() {
            return Err(E_INVALIDARG.into());
        }
        match self.call("get_progress", json!({}))? {
            Reply::Progress(p) => {
                // SAFETY: the caller's out-parameter, non-null.
                unsafe {
                    *out = BG_JOB_PROGRESS {
                        BytesTotal: p.bytes_total,
                        BytesTransferred: p.bytes_transferred,
                        FilesTotal: p.files_total,
                        FilesTransferred: p.files_transferred,
                    }
                };
                Ok(())
            }
            r => Err(unexpected("GetProgress", &r)),
        }
    }

    fn GetTimes(&self, out: *mut BG_JOB_TIMES) -> Result<()> {
        if out.is_null() {
            return Err(E_INVALIDARG.into());
        }
        let t = match self.call("get_times", json!({}))? {
            Reply::Times(t) => t,
            r => return Err(unexpected("GetTimes", &r)),
        };
        // A service that does not say where virtual time zero is on the
        // calendar (older than `epoch_unix_ms`) has no dates to give.
        let epoch = self.conn.epoch_unix_ms().ok_or(E_NOTIMPL)?;
        let ft = |t| {
            let v = proto::filetime(epoch, t);
            FILETIME {
                dwLowDateTime: v as u32,
                dwHighDateTime: (v >> 32) as u32,
            }
        };
        // [BG_JOB_TIMES]: TransferCompletionTime is zero until the job has
        // transferred its files.
        // SAFETY: the caller's out-parameter, non-null.
        unsafe {
            *out = BG_JOB_TIMES {
                CreationTime: ft(t.creation_time),
                ModificationTime: ft(t.modification_time),
                TransferCompletionTime: t.transfer_completion_time.map_or(FILETIME::default(), ft),
            }
        };
        Ok(())
    }

    fn GetState(&self) -> Result<BG_JOB_STATE> {
        match self.call("get_state", json!({}))? {
            Reply::State(s) => Ok(BG_JOB_STATE(s.as_u32() as i32)),
            r => Err(unexpected("GetState", &r)),
        }
    }

    fn GetError(&self) -> Result<IBackgroundCopyError> {
        match self.call("get_error", json!({}))? {
            Reply::Error(e) => Ok(error_interface(self.id, e, self.conn.clone())),
            r => Err(unexpected("GetError", &r)),
        }
    }

    fn GetOwner(&self) -> Result<PWSTR> {
        text(self.call("get_owner", json!({}))?, "GetOwner")
    }

    fn SetDisplayName(&self, name: &PCWSTR) -> Result<()> {
        let name = read_string(name)?;
        self.done("set_display_name", json!({"name": name}))
    }

    fn GetDisplayName(&self) -> Result<PWSTR> {
        text(self.call("get_display_name", json!({}))?, "GetDisplayName")
    }

    fn SetDescription(&self, val: &PCWSTR) -> Result<()> {
        let t = read_string(val)?;
        self.done("set_description", json!({"text": t}))
    }

    fn GetDescription(&self) -> Result<PWSTR> {
        text(self.call("get_description", json!({}))?, "GetDescription")
    }

    fn SetPriority(&self, val: BG_JOB_PRIORITY) -> Result<()> {
        // The raw number: the model answers E_NOTIMPL outside the enum.
        self.done("set_priority_raw", json!({"value": val.0 as u32}))
    }

    fn GetPriority(&self) -> Result<BG_JOB_PRIORITY> {
        match self.call("get_priority", json!({}))? {
            Reply::Priority(p) => Ok(BG_JOB_PRIORITY(p.as_u32() as i32)),
            r => Err(unexpected("GetPriority", &r)),
        }
    }

    fn SetNotifyFlags(&self, val: u32) -> Result<()> {
        self.done("set_notify_flags", json!({"flags": val}))
    }

    fn GetNotifyFlags(&self) -> Result<u32> {
        number(self.call("get_notify_flags", json!({}))?, "GetNotifyFlags")
    }

    fn SetNotifyInterface(&self, val: Ref<'_, IUnknown>) -> Result<()> {
        match val.as_ref() {
            Some(cb) => {
                self.done("set_notify_interface", json!({}))?;
                lock(&CALLBACKS).insert(self.id, Callback(cb.clone()));
            }
            None => {
                self.done("set_notify_interface", json!({"callback": null}))?;
                lock(&CALLBACKS).remove(&self.id);
            }
        }
        Ok(())
    }

    fn GetNotifyInterface(&self) -> Result<IUnknown> {
        Err(E_NOTIMPL.into())
    }

    fn SetMinimumRetryDelay(&self, seconds: u32) -> Result<()> {
        self.done("set_minimum_retry_delay", json!({"seconds": seconds}))
    }

    fn GetMinimumRetryDelay(&self) -> Result<u32> {
        number(
            self.call("get_minimum_retry_delay", json!({}))?,
            "GetMinimumRetryDelay",
        )
    }

    fn SetNoProgressTimeout(&self, seconds: u32) -> Result<()> {
        self.done("set_no_progress_timeout", json!({"seconds": seconds}))
    }

    fn GetNoProgressTimeout(&self) -> Result<u32> {
        number(
            self.call("get_no_progress_timeout", json!({}))?,
            "GetNoProgressTimeout",
        )
    }

    fn GetErrorCount(&self) -> Result<u32> {
        number(self.call("get_error_count", json!({}))?, "GetErrorCount")
    }

    fn SetProxySettings(
        &self,
        _usage: BG_JOB_PROXY_USAGE,
        _list: &PCWSTR,
        _bypass: &PCWSTR,
    ) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn GetProxySettings(
        &self,
        _usage: *mut BG_JOB_PROXY_USAGE,
        _list: *mut PWSTR,
        _bypass: *mut PWSTR,
    ) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn TakeOwnership(&self) -> Result<()> {
        self.done("take_ownership", json!({}))
    }
}

impl IBackgroundCopyJob2_Impl for Job_Impl {
    fn SetNotifyCmdLine(&self, program: &PCWSTR, parameters: &PCWSTR) -> Result<()> {
        let (program, parameters) = (read_optional(program)?, read_optional(parameters)?);
        self.done(
            "set_notify_cmd_line",
            json!({"program": program, "parameters": parameters}),
        )
    }

    fn GetNotifyCmdLine(&self, program: *mut PWSTR, parameters: *mut PWSTR) -> Result<()> {
        if program.is_null() || parameters.is_null() {
            return Err(E_INVALIDARG.into());
        }
        let (p, a) = match self.call("get_notify_cmd_line", json!({}))? {
            Reply::CmdLine(Some((p, a))) => (Some(p), a),
            Reply::CmdLine(None) => (None, None),
            r => return Err(unexpected("GetNotifyCmdLine", &r)),
        };
        let p = co_optional(p.as_deref())?;
        let a = co_optional(a.as_deref())?;
        // SAFETY: the caller's out-parameters, non-null.
        unsafe {
            *program = p;
            *parameters = a;
        }
        Ok(())
    }

    fn GetReplyProgress(&self, out: *mut BG_JOB_REPLY_PROGRESS) -> Result<()> {
        if out.is_null() {
            return Err(E_INVALIDARG.into());
        }
        match self.call("get_reply_progress", json!({}))? {
            Reply::ReplyProgress(p) => {
                // SAFETY: the caller's out-parameter, non-null.
                unsafe {
                    *out = BG_JOB_REPLY_PROGRESS {
                        BytesTotal: p.bytes_total,
                        BytesTransferred: p.bytes_transferred,
                    }
                };
                Ok(())
            }
            r => Err(unexpected("GetReplyProgress", &r)),
        }
    }

    fn GetReplyData(&self, buffer: *mut *mut u8, length: *mut u64) -> Result<()> {
        if buffer.is_null() || length.is_null() {
            return Err(E_INVALIDARG.into());
        }
        let data = match self.call("get_reply_data", json!({}))? {
            Reply::ReplyData(d) => d.unwrap_or_default(),
            r => return Err(unexpected("GetReplyData", &r)),
        };
        let p = if data.is_empty() {
            std::ptr::null_mut()
        } else {
            // SAFETY: a fresh allocation of data.len() bytes, filled at once.
            unsafe {
                let p = CoTaskMemAlloc(data.len()).cast::<u8>();
                if p.is_null() {
                    return Err(E_OUTOFMEMORY.into());
                }
                std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
                p
            }
        };
        // SAFETY: the caller's out-parameters, non-null.
        unsafe {
            *buffer = p;
            *length = data.len() as u64;
        }
        Ok(())
    }

    fn SetReplyFileName(&self, name: &PCWSTR) -> Result<()> {
        let name = read_string(name)?;
        // An empty name asks BITS to choose one: it stays empty.
        let name = if name.is_empty() {
            name
        } else {
            paths::to_unix(&name)
        };
        self.done("set_reply_file_name", json!({"name": name}))
    }

    fn GetReplyFileName(&self) -> Result<PWSTR> {
        match self.call("get_reply_file_name", json!({}))? {
            Reply::ReplyFileName(n) => co_optional(n.map(|n| paths::to_dos(&n)).as_deref()),
            r => Err(unexpected("GetReplyFileName", &r)),
        }
    }

    fn SetCredentials(&self, _credentials: *const BG_AUTH_CREDENTIALS) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn RemoveCredentials(&self, _target: BG_AUTH_TARGET, _scheme: BG_AUTH_SCHEME) -> Result<()> {
        Err(E_NOTIMPL.into())
    }
}

impl IBackgroundCopyJob3_Impl for Job_Impl {
    fn ReplaceRemotePrefix(&self, _old: &PCWSTR, _new: &PCWSTR) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn AddFileWithRanges(
        &self,
        remote: &PCWSTR,
        local: &PCWSTR,
        count: u32,
        ranges: *const BG_FILE_RANGE,
    ) -> Result<()> {
        let (remote, local) = (read_string(remote)?, read_string(local)?);
        let local = paths::to_unix(&local);
        if ranges.is_null() && count > 0 {
            return Err(E_INVALIDARG.into());
        }
        let ranges: Vec<Value> = (0..count as usize)
            .map(|i| {
                // SAFETY: the caller's array of `count` ranges.
                let r = unsafe { *ranges.add(i) };
                json!({"offset": r.InitialOffset, "length": r.Length})
            })
            .collect();
        self.done(
            "add_file_with_ranges",
            json!({"remote": remote, "local": local, "ranges": ranges}),
        )
    }

    fn SetFileACLFlags(&self, _flags: u32) -> Result<()> {
        Err(E_NOTIMPL.into())
    }

    fn GetFileACLFlags(&self) -> Result<u32> {
        Err(E_NOTIMPL.into())
    }
}

/// `IBackgroundCopyFile` and `File2`: file `index` of a job, read live
/// from the service.
#[implement(IBackgroundCopyFile2)]
struct File {
    job: JobId,
    index: usize,
    conn: Arc<Connection>,
    _live: Live,
}

fn file_interface(job: JobId, index: usize, conn: Arc<Connection>) -> IBackgroundCopyFile {
    let file: IBackgroundCopyFile2 = File {
        job,
        index,
        conn,
        _live: Live::new(),
    }
    .into();
    file.into()
}

impl File {
    fn entry(&self) -> Result<FileEntry> {
        let r = self
            .conn
            .bits("job.enum_files", json!({"job": self.job}))
            .map_err(fail)?;
        match r {
            Reply::Files(mut f) if self.index < f.len() => Ok(f.swap_remove(self.index)),
            r => Err(unexpected("IBackgroundCopyFile", &r)),
        }
    }
}

impl IBackgroundCopyFile_Impl for File_Impl {
    fn GetRemoteName(&self) -> Result<PWSTR> {
        co_string(&self.entry()?.remote_name)
    }

    fn GetLocalName(&self) -> Result<PWSTR> {
        co_string(&paths::to_dos(&self.entry()?.local_name))
    }

    fn GetProgress(&self, out: *mut BG_FILE_PROGRESS) -> Result<()> {
        if out.is_null() {
            return Err(E_INVALIDARG.into());
        }
        let f = self.entry()?;
        // SAFETY: the caller's out-parameter, non-null.
        unsafe {
            *out = BG_FILE_PROGRESS {
                BytesTotal: f.bytes_total,
                BytesTransferred: f.bytes_transferred,
                Completed: f.completed.into(),
            }
        };
        Ok(())
    }
}

impl IBackgroundCopyFile2_Impl for File_Impl {
    fn GetFileRanges(&self, count: *mut u32, ranges: *mut *mut BG_FILE_RANGE) -> Result<()> {
        if count.is_null() || ranges.is_null() {
            return Err(E_INVALIDARG.into());
        }
        let list = self.entry()?.ranges.unwrap_or_default();
        let p = if list.is_empty() {
            std::ptr::null_mut()
        } else {
            // SAFETY: a fresh allocation for list.len() ranges, filled at once.
            unsafe {
                let p = CoTaskMemAlloc(list.len() * std::mem::size_of::<BG_FILE_RANGE>())
                    .cast::<BG_FILE_RANGE>();
                if p.is_null() {
                    return Err(E_OUTOFMEMORY.into());
                }
                for (i, r) in list.iter().enumerate() {
                    p.add(i).write(BG_FILE_RANGE {
                        InitialOffset: r.offset,
                        Length: r.length,
                    });
                }
                p
            }
        };
        // SAFETY: the caller's out-parameters, non-null.
        unsafe {
            *count = u32::try_from(list.len()).unwrap_or(u32::MAX);
            *ranges = p;
        }
        Ok(())
    }

    fn SetRemoteName(&self, val: &PCWSTR) -> Result<()> {
        let remote = read_string(val)?;
        let r = self
            .conn
            .bits(
                "job.set_remote_name",
                json!({"job": self.job, "file": self.index, "remote": remote}),
            )
            .map_err(fail)?;
        match r {
            Reply::Done(h) if h != Hresult::S_OK => Err(Error::from_hresult(hr(h))),
            _ => Ok(()),
        }
    }
}

/// `IBackgroundCopyError`: a snapshot of the job's error, as BITS gives it.
#[implement(IBackgroundCopyError)]
struct JobError {
    job: JobId,
    error: ErrorInfo,
    conn: Arc<Connection>,
    _live: Live,
}

fn error_interface(job: JobId, error: ErrorInfo, conn: Arc<Connection>) -> IBackgroundCopyError {
    JobError {
        job,
        error,
        conn,
        _live: Live::new(),
    }
    .into()
}

impl IBackgroundCopyError_Impl for JobError_Impl {
    fn GetError(&self, context: *mut BG_ERROR_CONTEXT, code: *mut HRESULT) -> Result<()> {
        if context.is_null() || code.is_null() {
            return Err(E_INVALIDARG.into());
        }
        // SAFETY: the caller's out-parameters, non-null.
        unsafe {
            *context = BG_ERROR_CONTEXT(self.error.context.as_u32() as i32);
            *code = hr(self.error.code);
        }
        Ok(())
    }

    fn GetFile(&self) -> Result<IBackgroundCopyFile> {
        match self.error.get_file() {
            Ok(FileRef::File(i)) => Ok(file_interface(self.job, i, self.conn.clone())),
            // The reply file of an upload-reply job has no file object here yet.
            Ok(FileRef::Reply) => Err(E_NOTIMPL.into()),
            Err(e) => Err(Error::from_hresult(hr(e.code))),
        }
    }

    fn GetErrorDescription(&self, _language: u32) -> Result<PWSTR> {
        co_string(&self.error.code.message())
    }

    fn GetErrorContextDescription(&self, _language: u32) -> Result<PWSTR> {
        co_string(context_text(self.error.context))
    }

    fn GetProtocol(&self) -> Result<PWSTR> {
        match self.error.get_protocol() {
            Ok(p) => co_string(p),
            Err(e) => Err(Error::from_hresult(hr(e.code))),
        }
    }
}

/// The text of an error context, after the `BG_ERROR_CONTEXT` docs.
fn context_text(c: ErrorContext) -> &'static str {
    c.bg_name()
}

/// The cursor of an enumerator over a snapshot, as BITS's enumerators are
/// (`IEnumBackgroundCopyJobs`, `IEnumBackgroundCopyFiles`).
struct Cursor<T> {
    items: Vec<T>,
    next: Mutex<usize>,
    _live: Live,
}

impl<T: Clone> Cursor<T> {
    fn new(items: Vec<T>) -> Cursor<T> {
        Cursor {
            items,
            next: Mutex::new(0),
            _live: Live::new(),
        }
    }

    fn next(&self, count: u32, out: *mut Option<T>, fetched: *mut u32) -> Result<()> {
        if out.is_null() || (fetched.is_null() && count != 1) {
            return Err(E_INVALIDARG.into());
        }
        let mut next = lock(&self.next);
        let mut n = 0u32;
        while n < count && *next < self.items.len() {
            // SAFETY: the caller's array holds `count` items.
            unsafe { out.add(n as usize).write(Some(self.items[*next].clone())) };
            *next += 1;
            n += 1;
        }
        if !fetched.is_null() {
            // SAFETY: non-null, the caller's.
            unsafe { *fetched = n };
        }
        if n == count {
            Ok(())
        } else {
            Err(S_FALSE.into())
        }
    }

    fn skip(&self, count: u32) -> Result<()> {
        let mut next = lock(&self.next);
        let skip = (count as usize).min(self.items.len() - *next);
        *next += skip;
        if skip == count as usize {
            Ok(())
        } else {
            Err(S_FALSE.into())
        }
    }

    fn reset(&self) {
        *lock(&self.next) = 0;
    }

    fn copy(&self) -> Cursor<T> {
        let c = Cursor::new(self.items.clone());
        *lock(&c.next) = *lock(&self.next);
        c
    }

    fn count(&self) -> u32 {
        u32::try_from(self.items.len()).unwrap_or(u32::MAX)
    }
}

/// `IEnumBackgroundCopyJobs`.
#[implement(IEnumBackgroundCopyJobs)]
struct JobEnum(Cursor<IBackgroundCopyJob>);

impl IEnumBackgroundCopyJobs_Impl for JobEnum_Impl {
    fn Next(
        &self,
        count: u32,
        out: *mut Option<IBackgroundCopyJob>,
        fetched: *mut u32,
    ) -> Result<()> {
        self.0.next(count, out, fetched)
    }

    fn Skip(&self, count: u32) -> Result<()> {
        self.0.skip(count)
    }

    fn Reset(&self) -> Result<()> {
        self.0.reset();
        Ok(())
    }

    fn Clone(&self) -> Result<IEnumBackgroundCopyJobs> {
        Ok(JobEnum(self.0.copy()).into())
    }

    fn GetCount(&self) -> Result<u32> {
        Ok(self.0.count())
    }
}

/// `IEnumBackgroundCopyFiles`.
#[implement(IEnumBackgroundCopyFiles)]
struct FileEnum(Cursor<IBackgroundCopyFile>);

impl IEnumBackgroundCopyFiles_Impl for FileEnum_Impl {
    fn Next(
        &self,
        count: u32,
        out: *mut Option<IBackgroundCopyFile>,
        fetched: *mut u32,
    ) -> Result<()> {
        self.0.next(count, out, fetched)
    }

    fn Skip(&self, count: u32) -> Result<()> {
        self.0.skip(count)
    }

    fn Reset(&self) -> Result<()> {
        self.0.reset();
        Ok(())
    }

    fn Clone(&self) -> Result<IEnumBackgroundCopyFiles> {
        Ok(FileEnum(self.0.copy()).into())
    }

    fn GetCount(&self) -> Result<u32> {
        Ok(self.0.count())
    }
}

/// A notification from the service: calls the program's callback object
/// registered for the job, and answers with what it returned. No object
/// (never registered, or cleared): the object is gone.
fn notified(from: &Arc<Connection>, n: &Notification) -> Hresult {
    // SAFETY: joins this thread to the MTA (S_FALSE when it already is).
    let _ = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    let Some(cb) = lock(&CALLBACKS).get(&n.job).map(|c| c.0.clone()) else {
        return Hresult::RPC_E_SERVER_UNAVAILABLE;
    };
    // The job objects the callback gets call as the connection's user,
    // the job's owner.
    let job = job_interface(n.job, from.clone());
    // SAFETY: the callback's methods are called with live interfaces.
    let r: Result<()> = unsafe {
        match n.method.as_str() {
            "JobTransferred" => cb
                .cast::<IBackgroundCopyCallback>()
                .and_then(|c| c.JobTransferred(&job)),
            "JobError" => {
                let e = n
                    .params
                    .get("error")
                    .cloned()
                    .map(|mut e| {
                        if let Some(code) = e.pointer("/code/value").cloned() {
                            e["code"] = code;
                        }
                        e
                    })
                    .and_then(|e| serde_json::from_value::<ErrorInfo>(e).ok());
                match e {
                    Some(e) => {
                        let err = error_interface(n.job, e, from.clone());
                        cb.cast::<IBackgroundCopyCallback>()
                            .and_then(|c| c.JobError(&job, &err))
                    }
                    None => Err(Error::from_hresult(hr(Hresult::E_FAIL))),
                }
            }
            "JobModification" => cb
                .cast::<IBackgroundCopyCallback>()
                .and_then(|c| c.JobModification(&job, 0)),
            "FileTransferred" => match n.params.get("file").and_then(Value::as_u64) {
                Some(i) => {
                    let file = file_interface(n.job, i as usize, from.clone());
                    cb.cast::<IBackgroundCopyCallback2>()
                        .and_then(|c| c.FileTransferred(&job, &file))
                }
                None => Err(E_NOTIMPL.into()),
            },
            other => {
                tracing::warn!("unknown notification {other}");
                Err(E_NOTIMPL.into())
            }
        }
    };
    match r {
        Ok(()) => Hresult::S_OK,
        Err(e) => Hresult::from_i32(e.code().0),
    }
}

/// How long the server stays with nothing alive (`BITSIM_COM_LINGER_MS`,
/// default 5 s): long enough for a program that releases its manager and
/// creates another.
fn linger() -> Duration {
    std::env::var("BITSIM_COM_LINGER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
}

fn init_logging() {
    let Ok(filter) = std::env::var("BITSIM_COM_LOG") else {
        return;
    };
    let file = std::env::var("BITSIM_COM_LOG_FILE").ok().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false);
    match file {
        Some(f) => builder.with_writer(Mutex::new(f)).init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

/// Runs `reg.exe` with `args`; true on success.
fn reg(args: &[&str]) -> bool {
    match std::process::Command::new("reg").args(args).output() {
        Ok(o) => o.status.success(),
        Err(e) => {
            eprintln!("bitsim-com: cannot run reg.exe: {e}");
            false
        }
    }
}

fn install(addr: &str) -> i32 {
    if let Err(e) = proto::service_address(Some(addr), None) {
        eprintln!("bitsim-com install: {}", e.message);
        return 2;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            eprintln!("bitsim-com install: cannot find its own path: {e}");
            return 1;
        }
    };
    let clsid = format!("HKLM\\Software\\Classes\\CLSID\\{CLSID_TEXT}");
    let server = format!("\"{exe}\"");
    // The AppID value may already be gone (installed twice): not an error.
    let _ = reg(&["delete", &clsid, "/v", "AppID", "/f"]);
    let ok = reg(&[
        "add",
        &format!("{clsid}\\LocalServer32"),
        "/ve",
        "/d",
        &server,
        "/f",
    ]) && set_registry_value(proto::REGISTRY_VALUE, addr);
    if !ok {
        eprintln!("bitsim-com install: reg.exe failed");
        return 1;
    }
    eprintln!("bitsim-com: {CLSID_TEXT} is served by {exe}, forwarding to {addr}");
    place_bitsadmin()
}

/// The registry value (under `HKLM\Software\bitsim`) that holds the path
/// of the `bitsadmin.exe` that `install` put in place, so that `uninstall`
/// removes only that.
const BITSADMIN_VALUE: &str = "Bitsadmin";

/// `%SystemRoot%\system32\bitsadmin.exe`.
fn bitsadmin_path() -> std::path::PathBuf {
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| r"C:\windows".into());
    std::path::Path::new(&root)
        .join("system32")
        .join("bitsadmin.exe")
}

/// Puts a copy of this program at `%SystemRoot%\system32\bitsadmin.exe`
/// (it acts as bitsadmin under that name, [`crate::bitsadmin`]) when the
/// prefix has none, or when the one there is a copy an earlier `install`
/// put (then it is brought up to date); a prefix's own `bitsadmin.exe` is
/// left alone. The path is remembered for `uninstall`.
fn place_bitsadmin() -> i32 {
    let to = bitsadmin_path();
    let ours = registry_value(BITSADMIN_VALUE).is_some();
    if to.exists() && !ours {
        eprintln!(
            "bitsim-com: the prefix has its own {}: left in place",
            to.display()
        );
        return 0;
    }
    let copied = std::env::current_exe().and_then(|me| std::fs::copy(me, &to));
    if let Err(e) = copied {
        if ours && to.exists() {
            // An earlier copy stays (e.g. one running now).
            eprintln!(
                "bitsim-com: {} not brought up to date ({e}): the earlier copy stays",
                to.display()
            );
            return 0;
        }
        eprintln!(
            "bitsim-com install: cannot put bitsadmin.exe at {}: {e}",
            to.display()
        );
        return 1;
    }
    let path = to.display().to_string();
    if !set_registry_value(BITSADMIN_VALUE, &path) {
        let _ = std::fs::remove_file(&to);
        eprintln!("bitsim-com install: reg.exe failed");
        return 1;
    }
    if ours {
        eprintln!("bitsim-com: {path}, bitsim's bitsadmin, brought up to date");
    } else {
        eprintln!("bitsim-com: {path} is bitsim's bitsadmin (this prefix had none)");
    }
    0
}

/// Removes the `bitsadmin.exe` that `install` put in place, if it did.
fn remove_bitsadmin() -> bool {
    let Some(path) = registry_value(BITSADMIN_VALUE) else {
        return true;
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {
            eprintln!("bitsim-com: removed {path}, which install had put there");
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            eprintln!("bitsim-com uninstall: cannot remove {path}: {e}");
            false
        }
    }
}

fn uninstall() -> i32 {
    // Before the key (and the path it remembers) goes.
    if !remove_bitsadmin() {
        return 1;
    }
    let clsid = format!("HKLM\\Software\\Classes\\CLSID\\{CLSID_TEXT}");
    let _ = reg(&["delete", &format!("{clsid}\\LocalServer32"), "/f"]);
    let _ = reg(&["delete", &format!("HKLM\\{}", proto::REGISTRY_KEY), "/f"]);
    if reg(&["add", &clsid, "/v", "AppID", "/d", WINE_APPID, "/f"]) {
        eprintln!("bitsim-com: {CLSID_TEXT} is the prefix's own BITS again");
        0
    } else {
        eprintln!("bitsim-com uninstall: reg.exe failed");
        1
    }
}

fn serve() -> i32 {
    // SAFETY: this thread joins the MTA for the life of the process.
    let r = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    if r.is_err() {
        eprintln!("bitsim-com: CoInitializeEx: {r:?}");
        return 1;
    }
    let factory: IClassFactory = Factory.into();
    // SAFETY: registers a live class factory; revoked before exit.
    let cookie = match unsafe {
        CoRegisterClassObject(
            &BackgroundCopyManager,
            &factory,
            CLSCTX_LOCAL_SERVER,
            REGCLS_MULTIPLEUSE,
        )
    } {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bitsim-com: CoRegisterClassObject: {e}");
            return 1;
        }
    };
    tracing::info!("serving CLSID_BackgroundCopyManager");
    let linger = linger();
    let mut idle_since = Some(Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if LIVE.load(Ordering::SeqCst) > 0 {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= linger {
            break;
        }
    }
    // SAFETY: the cookie CoRegisterClassObject returned.
    let _ = unsafe { CoRevokeClassObject(cookie) };
    tracing::info!("no object left: leaving");
    0
}

/// `bitsim-com.exe`'s entry point: `install ADDR`, `uninstall`, or serve
/// (COM passes `-Embedding`).
pub fn main(args: Vec<String>) -> i32 {
    init_logging();
    match args.first().map(String::as_str) {
        Some("install") => match args.get(1) {
            Some(addr) => install(addr),
            None => {
                eprintln!("usage: bitsim-com install 127.0.0.1:PORT");
                2
            }
        },
        Some("uninstall") => uninstall(),
        None | Some("-Embedding" | "/Embedding" | "serve") => serve(),
        Some(other) => {
            eprintln!(
                "bitsim-com: unknown argument {other:?} (install ADDR, uninstall, serve, -Embedding)"
            );
            2
        }
    }
}
