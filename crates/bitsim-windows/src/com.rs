//! [`bitsim::Backend`] over real BITS, through COM (Windows, feature
//! `real-windows`).
//!
//! Only COM calls live here: every number BITS returns goes through
//! [`crate::convert`], and every callback decision through
//! [`crate::bridge`], both tested on Linux. It is built for
//! `x86_64-pc-windows-gnu` and run under Wine on Linux
//! (`scripts/windows-on-linux.sh`), and on real Windows by the
//! `windows-latest` CI job.
//!
//! Conventions of the `windows` crate (0.62) used below:
//! * interface methods are `unsafe fn` and return `windows::core::Result`;
//!   a failed HRESULT becomes `Err(e)` with `e.code()`, mapped by
//!   [`crate::convert::error_from_raw`];
//! * `Complete`, `Cancel` and `CreateJob` are called through the vtable, so
//!   their success codes (`BG_S_PARTIAL_COMPLETE`,
//!   `BG_S_UNABLE_TO_DELETE_FILES`) are kept and `CreateJob`'s two out
//!   parameters are filled the same way whatever wrapper shape a `windows`
//!   release generates;
//! * strings BITS returns (`PWSTR`) are freed with `CoTaskMemFree`.
#![allow(unsafe_code)]

use crate::bridge::{Bridge, Notification, file_ref_for};
use crate::convert;
use bitsim::{Backend, Callback, JobAccess};
use bitsim_model::{
    Error, ErrorInfo, FileRef, Hresult, JobId, JobPriority, JobProgress, JobState, JobType,
    ReplyProgress,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use windows::Win32::Networking::BackgroundIntelligentTransferService::{
    BG_ERROR_CONTEXT, BG_JOB_PRIORITY, BG_JOB_PROGRESS, BG_JOB_REPLY_PROGRESS, BG_JOB_TYPE,
    BackgroundCopyManager, IBackgroundCopyCallback_Impl, IBackgroundCopyCallback2,
    IBackgroundCopyCallback2_Impl, IBackgroundCopyError, IBackgroundCopyFile, IBackgroundCopyJob,
    IBackgroundCopyJob2, IBackgroundCopyManager,
};
use windows::Win32::System::Com::{
    CLSCTX_LOCAL_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoIncrementMTAUsage,
    CoInitializeEx, CoTaskMemFree,
};
use windows::core::{GUID, HRESULT, IUnknown, Interface, PCWSTR, PWSTR, Ref, implement};

/// `E_POINTER`: BITS passed a null interface pointer.
const E_POINTER: HRESULT = HRESULT(0x8000_4003_u32 as i32);

fn err(e: windows::core::Error) -> Error {
    convert::error_from_raw(e.code().0)
}

fn hr_err(hr: Hresult) -> windows::core::Error {
    windows::core::Error::from_hresult(HRESULT(hr.as_i32()))
}

/// Takes ownership of a `PWSTR` BITS allocated, returns it as a `String`.
fn take_string(p: PWSTR) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: BITS returned a NUL-terminated string allocated with
    // CoTaskMemAlloc; it is read once, then freed once.
    unsafe {
        let s = convert::from_wide(p.as_wide());
        CoTaskMemFree(Some(p.0 as *const core::ffi::c_void));
        s
    }
}

fn id_of(g: &GUID) -> JobId {
    convert::job_id_from_guid(g.data1, g.data2, g.data3, g.data4)
}

// ---- job getters and methods, shared by the backend and callbacks ----

fn display_name(job: &IBackgroundCopyJob) -> Result<String, Error> {
    // SAFETY: a live interface pointer; the result is freed by take_string.
    unsafe { job.GetDisplayName() }
        .map(take_string)
        .map_err(err)
}

fn job_type(job: &IBackgroundCopyJob) -> Result<JobType, Error> {
    let t = unsafe { job.GetType() }.map_err(err)?;
    convert::job_type_from_raw(t.0)
}

fn state(job: &IBackgroundCopyJob) -> Result<JobState, Error> {
    let s = unsafe { job.GetState() }.map_err(err)?;
    convert::job_state_from_raw(s.0)
}

fn priority(job: &IBackgroundCopyJob) -> Result<JobPriority, Error> {
    let p = unsafe { job.GetPriority() }.map_err(err)?;
    convert::priority_from_raw(p.0)
}

fn progress(job: &IBackgroundCopyJob) -> Result<JobProgress, Error> {
    let mut p = BG_JOB_PROGRESS::default();
    unsafe { job.GetProgress(&mut p) }.map_err(err)?;
    Ok(convert::progress_from_raw(
        p.BytesTotal,
        p.BytesTransferred,
        p.FilesTotal,
        p.FilesTransferred,
    ))
}

fn error_count(job: &IBackgroundCopyJob) -> Result<u32, Error> {
    unsafe { job.GetErrorCount() }.map_err(err)
}

/// Reads an `IBackgroundCopyError` into the model's [`ErrorInfo`]; the file
/// is located among `locals` by its local name.
fn error_info(e: &IBackgroundCopyError, job_type: JobType, locals: &[String]) -> ErrorInfo {
    let mut ctx = BG_ERROR_CONTEXT::default();
    let mut code = HRESULT(0);
    // SAFETY: two valid out pointers.
    let read = unsafe { e.GetError(&mut ctx, &mut code) };
    if let Err(x) = read {
        tracing::warn!("IBackgroundCopyError::GetError failed: {x}");
    }
    // GetFile/GetProtocol fail with BG_E_FILE_NOT_AVAILABLE /
    // BG_E_PROTOCOL_NOT_AVAILABLE when the error concerns no file [ERRIF].
    let file = unsafe { e.GetFile() }
        .ok()
        .and_then(|f: IBackgroundCopyFile| {
            let local = unsafe { f.GetLocalName() }.map(take_string).ok()?;
            file_ref_for(job_type, locals, &local).or(Some(FileRef::File(0)))
        });
    let protocol = unsafe { e.GetProtocol() }.map(take_string).ok();
    ErrorInfo {
        context: convert::error_context_from_raw(ctx.0),
        code: convert::hresult_from_raw(code.0),
        file,
        protocol,
    }
}

fn error(job: &IBackgroundCopyJob, locals: &[String]) -> Result<ErrorInfo, Error> {
    let e = unsafe { job.GetError() }.map_err(err)?;
    let t = job_type(job)?;
    Ok(error_info(&e, t, locals))
}

fn reply_progress(job: &IBackgroundCopyJob) -> Result<ReplyProgress, Error> {
    let j2: IBackgroundCopyJob2 = job.cast().map_err(err)?;
    let mut p = BG_JOB_REPLY_PROGRESS::default();
    unsafe { j2.GetReplyProgress(&mut p) }.map_err(err)?;
    Ok(ReplyProgress {
        bytes_total: p.BytesTotal,
        bytes_transferred: p.BytesTransferred,
    })
}

fn resume(job: &IBackgroundCopyJob) -> Result<(), Error> {
    unsafe { job.Resume() }.map_err(err)
}

fn suspend(job: &IBackgroundCopyJob) -> Result<(), Error> {
    unsafe { job.Suspend() }.map_err(err)
}

fn cancel(job: &IBackgroundCopyJob) -> Result<Hresult, Error> {
    // SAFETY: the vtable entry of a live IBackgroundCopyJob; called through
    // the vtable to keep BG_S_UNABLE_TO_DELETE_FILES.
    let hr = unsafe { (Interface::vtable(job).Cancel)(Interface::as_raw(job)) };
    convert::status_from_raw(hr.0)
}

fn complete(job: &IBackgroundCopyJob) -> Result<Hresult, Error> {
    // SAFETY: as in `cancel`; keeps BG_S_PARTIAL_COMPLETE.
    let hr = unsafe { (Interface::vtable(job).Complete)(Interface::as_raw(job)) };
    convert::status_from_raw(hr.0)
}

fn set_priority(job: &IBackgroundCopyJob, p: JobPriority) -> Result<(), Error> {
    unsafe { job.SetPriority(BG_JOB_PRIORITY(convert::priority_to_raw(p))) }.map_err(err)
}

fn set_minimum_retry_delay(job: &IBackgroundCopyJob, s: u32) -> Result<(), Error> {
    unsafe { job.SetMinimumRetryDelay(s) }.map_err(err)
}

fn set_no_progress_timeout(job: &IBackgroundCopyJob, s: u32) -> Result<(), Error> {
    unsafe { job.SetNoProgressTimeout(s) }.map_err(err)
}

/// The local names of every job's files, in `AddFile` order, shared with
/// the callback objects (BITS hands `FileTransferred` an
/// `IBackgroundCopyFile`; the bridge turns its local name into a
/// [`FileRef`]).
type Locals = Arc<Mutex<BTreeMap<JobId, Vec<String>>>>;

fn locals_of(locals: &Locals, id: JobId) -> Vec<String> {
    locals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&id)
        .cloned()
        .unwrap_or_default()
}

/// [`JobAccess`] over the `IBackgroundCopyJob` BITS passed to a callback.
struct ComJob<'a> {
    job: &'a IBackgroundCopyJob,
    locals: Vec<String>,
}

impl JobAccess for ComJob<'_> {
    fn display_name(&self, _: JobId) -> Result<String, Error> {
        display_name(self.job)
    }
    fn job_type(&self, _: JobId) -> Result<JobType, Error> {
        job_type(self.job)
    }
    fn state(&self, _: JobId) -> Result<JobState, Error> {
        state(self.job)
    }
    fn priority(&self, _: JobId) -> Result<JobPriority, Error> {
        priority(self.job)
    }
    fn progress(&self, _: JobId) -> Result<JobProgress, Error> {
        progress(self.job)
    }
    fn error_count(&self, _: JobId) -> Result<u32, Error> {
        error_count(self.job)
    }
    fn error(&self, _: JobId) -> Result<ErrorInfo, Error> {
        error(self.job, &self.locals)
    }
    fn reply_progress(&self, _: JobId) -> Result<ReplyProgress, Error> {
        reply_progress(self.job)
    }
    fn resume(&mut self, _: JobId) -> Result<(), Error> {
        resume(self.job)
    }
    fn suspend(&mut self, _: JobId) -> Result<(), Error> {
        suspend(self.job)
    }
    fn cancel(&mut self, _: JobId) -> Result<Hresult, Error> {
        cancel(self.job)
    }
    fn complete(&mut self, _: JobId) -> Result<Hresult, Error> {
        complete(self.job)
    }
    fn set_priority(&mut self, _: JobId, p: JobPriority) -> Result<(), Error> {
        set_priority(self.job, p)
    }
    fn set_minimum_retry_delay(&mut self, _: JobId, s: u32) -> Result<(), Error> {
        set_minimum_retry_delay(self.job, s)
    }
    fn set_no_progress_timeout(&mut self, _: JobId, s: u32) -> Result<(), Error> {
        set_no_progress_timeout(self.job, s)
    }
}

/// The COM object registered with `SetNotifyInterface`: implements
/// `IBackgroundCopyCallback2`, and so `IBackgroundCopyCallback` (the
/// generated `QueryInterface` answers for the parent's IID too), and hands
/// every call to the [`Bridge`].
#[implement(IBackgroundCopyCallback2)]
struct CallbackObject {
    bridge: Bridge,
    locals: Locals,
}

impl CallbackObject {
    fn notify(
        &self,
        pjob: &Option<IBackgroundCopyJob>,
        n: impl FnOnce(&IBackgroundCopyJob, &[String]) -> Notification,
    ) -> windows::core::Result<()> {
        let job = pjob
            .as_ref()
            .ok_or_else(|| windows::core::Error::from_hresult(E_POINTER))?;
        let locals = locals_of(&self.locals, self.bridge.job());
        let n = n(job, &locals);
        let mut access = ComJob { job, locals };
        self.bridge.deliver(&mut access, &n).map_err(hr_err)
    }
}

impl IBackgroundCopyCallback_Impl for CallbackObject_Impl {
    fn JobTransferred(&self, pjob: Ref<'_, IBackgroundCopyJob>) -> windows::core::Result<()> {
        self.notify(&pjob, |_, _| Notification::JobTransferred)
    }

    fn JobError(
        &self,
        pjob: Ref<'_, IBackgroundCopyJob>,
        perror: Ref<'_, IBackgroundCopyError>,
    ) -> windows::core::Result<()> {
        let perror: &Option<IBackgroundCopyError> = &perror;
        self.notify(&pjob, |job, locals| {
            let t = job_type(job).unwrap_or(JobType::Download);
            let info = match perror {
                Some(e) => error_info(e, t, locals),
                None => error(job, locals).unwrap_or(ErrorInfo {
                    context: bitsim_model::ErrorContext::Unknown,
                    code: Hresult::E_FAIL,
                    file: None,
                    protocol: None,
                }),
            };
            Notification::JobError(info)
        })
    }

    fn JobModification(
        &self,
        pjob: Ref<'_, IBackgroundCopyJob>,
        _reserved: u32,
    ) -> windows::core::Result<()> {
        self.notify(&pjob, |_, _| Notification::JobModification)
    }
}

impl IBackgroundCopyCallback2_Impl for CallbackObject_Impl {
    fn FileTransferred(
        &self,
        pjob: Ref<'_, IBackgroundCopyJob>,
        pfile: Ref<'_, IBackgroundCopyFile>,
    ) -> windows::core::Result<()> {
        let pfile: &Option<IBackgroundCopyFile> = &pfile;
        self.notify(&pjob, |job, locals| {
            let t = job_type(job).unwrap_or(JobType::Download);
            let local = pfile
                .as_ref()
                .and_then(|f| unsafe { f.GetLocalName() }.map(take_string).ok())
                .unwrap_or_default();
            let f = file_ref_for(t, locals, &local).unwrap_or_else(|| {
                tracing::warn!("FileTransferred for unknown file {local:?}; reporting file 0");
                FileRef::File(0)
            });
            Notification::FileTransferred(f)
        })
    }
}

/// bitsim's [`Backend`] on the real BITS service of this machine.
///
/// Create it on the thread that will use it: it joins that thread to the
/// COM multithreaded apartment, and is neither `Send` nor `Sync` (COM
/// interface pointers are apartment-bound). Callbacks registered with
/// [`Backend::set_notify_interface`] run on BITS's RPC threads.
///
/// The first backend of a process also takes a reference on the MTA with
/// `CoIncrementMTAUsage`, kept until the process ends: otherwise the MTA
/// (and with it every callback object's RPC endpoint) is torn down when the
/// thread that created the backend exits, and BITS's later notifications
/// fail inside RPC (`I_RpcReceive` fault `0x1c010003` under Wine) and never
/// arrive. See
/// <https://learn.microsoft.com/en-us/windows/win32/api/combaseapi/nf-combaseapi-coincrementmtausage>.
pub struct WinBackend {
    manager: IBackgroundCopyManager,
    jobs: BTreeMap<JobId, IBackgroundCopyJob>,
    locals: Locals,
    cancel_on_drop: bool,
    poll: Duration,
}

/// The Wine version this process runs under (`wine_get_version`, which
/// Wine's `ntdll.dll` exports), or `None` on Windows.
pub fn wine_version() -> Option<String> {
    use windows::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    use windows::core::{s, w};
    // SAFETY: ntdll.dll is loaded in every process; both names are static.
    let f = unsafe {
        let ntdll = GetModuleHandleW(w!("ntdll.dll")).ok()?;
        GetProcAddress(ntdll, s!("wine_get_version"))?
    };
    // SAFETY: Wine's `const char *wine_get_version(void)` returns a static
    // NUL-terminated string.
    let v = unsafe {
        let f: extern "C" fn() -> *const core::ffi::c_char = core::mem::transmute(f);
        let p = f();
        if p.is_null() {
            return Some(String::new());
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    Some(v)
}

/// True when this process runs under Wine, where the suite checks Wine's
/// expected outcomes.
pub fn running_on_wine() -> bool {
    wine_version().is_some()
}

/// `CoIncrementMTAUsage` once per process; the cookie is never released,
/// so the MTA lives as long as the process (callbacks may arrive at any
/// time, on any thread).
fn keep_mta_alive() -> Result<(), Error> {
    static MTA: OnceLock<Result<(), Error>> = OnceLock::new();
    *MTA.get_or_init(|| {
        // SAFETY: no arguments; the returned cookie is deliberately leaked.
        unsafe { CoIncrementMTAUsage() }
            .map(|_cookie| ())
            .map_err(err)
    })
}

impl WinBackend {
    /// Connects to BITS (`CoCreateInstance(BackgroundCopyManager,
    /// CLSCTX_LOCAL_SERVER)`), after joining the COM MTA.
    pub fn new() -> Result<WinBackend, Error> {
        keep_mta_alive()?;
        // S_FALSE (already initialised) is fine; RPC_E_CHANGED_MODE means
        // the thread is an STA already, which works too (BITS calls back
        // through the STA's message loop).
        let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
        if hr.is_err() {
            tracing::debug!("CoInitializeEx: {hr:?}; using the thread's apartment");
        }
        let manager: IBackgroundCopyManager =
            unsafe { CoCreateInstance(&BackgroundCopyManager, None, CLSCTX_LOCAL_SERVER) }
                .map_err(err)?;
        Ok(WinBackend {
            manager,
            jobs: BTreeMap::new(),
            locals: Arc::default(),
            cancel_on_drop: false,
            poll: Duration::from_millis(50),
        })
    }

    /// Cancel every job this backend created that is not final when it is
    /// dropped (the conformance harness uses this so a failed case leaves no
    /// job in the user's queue).
    pub fn cancel_on_drop(mut self, yes: bool) -> Self {
        self.cancel_on_drop = yes;
        self
    }

    fn job(&self, id: JobId) -> Result<&IBackgroundCopyJob, Error> {
        self.jobs
            .get(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))
    }

    fn locals(&self, id: JobId) -> Vec<String> {
        locals_of(&self.locals, id)
    }
}

impl Drop for WinBackend {
    fn drop(&mut self) {
        if !self.cancel_on_drop {
            return;
        }
        for (id, job) in &self.jobs {
            if state(job).is_ok_and(|s| !s.is_final()) {
                let _ = unsafe { job.SetNotifyInterface(None::<&IUnknown>) };
                if let Err(e) = cancel(job) {
                    tracing::warn!(job = %id, "cancel on drop failed: {e}");
                }
            }
        }
    }
}

impl JobAccess for WinBackend {
    fn display_name(&self, job: JobId) -> Result<String, Error> {
        display_name(self.job(job)?)
    }
    fn job_type(&self, job: JobId) -> Result<JobType, Error> {
        job_type(self.job(job)?)
    }
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        state(self.job(job)?)
    }
    fn priority(&self, job: JobId) -> Result<JobPriority, Error> {
        priority(self.job(job)?)
    }
    fn progress(&self, job: JobId) -> Result<JobProgress, Error> {
        progress(self.job(job)?)
    }
    fn error_count(&self, job: JobId) -> Result<u32, Error> {
        error_count(self.job(job)?)
    }
    fn error(&self, job: JobId) -> Result<ErrorInfo, Error> {
        error(self.job(job)?, &self.locals(job))
    }
    fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error> {
        reply_progress(self.job(job)?)
    }
    fn resume(&mut self, job: JobId) -> Result<(), Error> {
        resume(self.job(job)?)
    }
    fn suspend(&mut self, job: JobId) -> Result<(), Error> {
        suspend(self.job(job)?)
    }
    fn cancel(&mut self, job: JobId) -> Result<Hresult, Error> {
        cancel(self.job(job)?)
    }
    fn complete(&mut self, job: JobId) -> Result<Hresult, Error> {
        complete(self.job(job)?)
    }
    fn set_priority(&mut self, job: JobId, p: JobPriority) -> Result<(), Error> {
        set_priority(self.job(job)?, p)
    }
    fn set_minimum_retry_delay(&mut self, job: JobId, s: u32) -> Result<(), Error> {
        set_minimum_retry_delay(self.job(job)?, s)
    }
    fn set_no_progress_timeout(&mut self, job: JobId, s: u32) -> Result<(), Error> {
        set_no_progress_timeout(self.job(job)?, s)
    }
}

impl Backend for WinBackend {
    fn create_job(&mut self, display_name: &str, t: JobType) -> Result<JobId, Error> {
        let name = convert::to_wide(display_name)?;
        let mut guid = GUID::zeroed();
        let mut raw: *mut core::ffi::c_void = core::ptr::null_mut();
        // SAFETY: the vtable entry of a live IBackgroundCopyManager; `name`
        // outlives the call; both out pointers are valid. On success BITS
        // hands us one reference to the new job, owned by `from_raw`.
        let hr = unsafe {
            (Interface::vtable(&self.manager).CreateJob)(
                Interface::as_raw(&self.manager),
                PCWSTR(name.as_ptr()),
                BG_JOB_TYPE(convert::job_type_to_raw(t)),
                &mut guid,
                &mut raw,
            )
        };
        if hr.is_err() {
            return Err(convert::error_from_raw(hr.0));
        }
        if raw.is_null() {
            return Err(Error::new(convert::E_UNEXPECTED));
        }
        let job = unsafe { IBackgroundCopyJob::from_raw(raw) };
        let id = id_of(&guid);
        self.jobs.insert(id, job);
        Ok(id)
    }

    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error> {
        let r = convert::to_wide(remote)?;
        let l = convert::to_wide(local)?;
        unsafe {
            self.job(job)?
                .AddFile(PCWSTR(r.as_ptr()), PCWSTR(l.as_ptr()))
        }
        .map_err(err)?;
        self.locals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(job)
            .or_default()
            .push(local.to_owned());
        Ok(())
    }

    fn set_notify_interface(
        &mut self,
        job: JobId,
        callback: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error> {
        let j = self.job(job)?;
        match callback {
            None => unsafe { j.SetNotifyInterface(None::<&IUnknown>) }.map_err(err),
            Some(cb) => {
                let obj: IBackgroundCopyCallback2 = CallbackObject {
                    bridge: Bridge::new(job, cb),
                    locals: self.locals.clone(),
                }
                .into();
                let unk: IUnknown = obj.cast().map_err(err)?;
                unsafe { j.SetNotifyInterface(&unk) }.map_err(err)
            }
        }
    }

    fn set_notify_flags(&mut self, job: JobId, flags: u32) -> Result<(), Error> {
        unsafe { self.job(job)?.SetNotifyFlags(flags) }.map_err(err)
    }

    fn notify_flags(&self, job: JobId) -> Result<u32, Error> {
        unsafe { self.job(job)?.GetNotifyFlags() }.map_err(err)
    }

    fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error> {
        unsafe { self.job(job)?.GetMinimumRetryDelay() }.map_err(err)
    }

    fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error> {
        unsafe { self.job(job)?.GetNoProgressTimeout() }.map_err(err)
    }

    fn set_reply_file_name(&mut self, job: JobId, path: &str) -> Result<(), Error> {
        let j2: IBackgroundCopyJob2 = self.job(job)?.cast().map_err(err)?;
        let p = convert::to_wide(path)?;
        unsafe { j2.SetReplyFileName(PCWSTR(p.as_ptr())) }.map_err(err)
    }

    fn set_notify_cmd_line(
        &mut self,
        job: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<(), Error> {
        let j2: IBackgroundCopyJob2 = self.job(job)?.cast().map_err(err)?;
        let program = program.map(convert::to_wide).transpose()?;
        let parameters = parameters.map(convert::to_wide).transpose()?;
        let ptr = |w: &Option<Vec<u16>>| w.as_ref().map_or(PCWSTR::null(), |w| PCWSTR(w.as_ptr()));
        // SAFETY: both strings (or nulls) outlive the call.
        unsafe { j2.SetNotifyCmdLine(ptr(&program), ptr(&parameters)) }.map_err(err)
    }

    fn wait_for(
        &mut self,
        job: JobId,
        timeout: Duration,
        done: &dyn Fn(JobState) -> bool,
    ) -> JobState {
        let start = Instant::now();
        loop {
            let s = self.state(job).unwrap_or(JobState::Cancelled);
            if done(s) || start.elapsed() >= timeout {
                return s;
            }
            std::thread::sleep(self.poll.min(timeout.saturating_sub(start.elapsed())));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The Linux-tested tables against the `windows` crate's own constants.
    use super::*;
    use windows::Win32::Networking::BackgroundIntelligentTransferService as bits;

    #[test]
    fn tables_agree_with_the_windows_crate() {
        assert_eq!(
            convert::job_state_from_raw(bits::BG_JOB_STATE_TRANSIENT_ERROR.0),
            Ok(JobState::TransientError)
        );
        assert_eq!(
            convert::job_state_from_raw(bits::BG_JOB_STATE_CANCELLED.0),
            Ok(JobState::Cancelled)
        );
        assert_eq!(
            convert::job_type_from_raw(bits::BG_JOB_TYPE_UPLOAD_REPLY.0),
            Ok(JobType::UploadReply)
        );
        assert_eq!(
            convert::priority_from_raw(bits::BG_JOB_PRIORITY_FOREGROUND.0),
            Ok(JobPriority::Foreground)
        );
        assert_eq!(
            convert::error_context_from_raw(bits::BG_ERROR_CONTEXT_REMOTE_FILE.0),
            bitsim_model::ErrorContext::RemoteFile
        );
        for (ours, theirs) in [
            (Hresult::BG_E_NOT_FOUND, bits::BG_E_NOT_FOUND),
            (Hresult::BG_E_INVALID_STATE, bits::BG_E_INVALID_STATE),
            (Hresult::BG_E_EMPTY, bits::BG_E_EMPTY),
            (Hresult::BG_E_TOO_MANY_FILES, bits::BG_E_TOO_MANY_FILES),
            (
                Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE,
                bits::BG_E_ERROR_INFORMATION_UNAVAILABLE,
            ),
            (Hresult::http(404), bits::BG_E_HTTP_ERROR_404),
            (Hresult::BG_S_PARTIAL_COMPLETE, bits::BG_S_PARTIAL_COMPLETE),
        ] {
            assert_eq!(ours.as_i32(), theirs, "{ours}");
        }
        assert_eq!(
            bits::BG_NOTIFY_JOB_TRANSFERRED | bits::BG_NOTIFY_JOB_ERROR,
            0x3
        );
    }
}
