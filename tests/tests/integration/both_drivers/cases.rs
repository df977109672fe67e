//! One case per decision, written once over [`World`] and run through
//! both drivers (`a<N>_..._on_the_simulator`,
//! `a<N>_..._on_the_real_time_driver`).

use std::path::Path;
use std::time::Duration;

use bitsim::JobAccess;
use bitsim::backend::Backend;
use bitsim_model::{
    BandwidthWindow, Call, ErrorContext, FileRef, Hresult, JobId, JobPriority, JobState, JobType,
    NotifyFlags, Policy, Reply, invented_reply_file_name, temp_file_name,
};

use super::world::{BIG, Real, Recorder, SMALL, Sim, World, call, pass, settle};

/// Long enough for anything a case waits for to happen (virtual time is
/// free; real cases end as soon as their condition holds).
const LONG: Duration = Duration::from_secs(30);

/// The program of A26's command lines (the simulated world says it runs
/// 3 s).
pub const SLEEP: &str = "/bin/sleep";

fn ended(s: JobState) -> bool {
    matches!(s, JobState::Error | JobState::Transferred)
}

fn world<W: World>() -> (W, W::B) {
    W::start(Policy::default())
}

/// A policy with a short re-call interval for failing callbacks (A9), so
/// that a real-time case need not wait out MinimumRetryDelay.
fn quick_recall() -> Policy {
    let mut p = Policy::default();
    p.callback_retry_interval = Some(Duration::from_secs(1));
    p
}

/// A download job named `name` of `path` to `dest`, not resumed (SUSPENDED).
fn new_download<W: World>(w: &W, b: &mut W::B, name: &str, path: &str, dest: &str) -> JobId {
    let job = b.create_job(name, JobType::Download).unwrap();
    b.add_file(job, &w.url(path), &w.local(dest)).unwrap();
    job
}

/// A download job of `path`, resumed.
fn download<W: World>(w: &W, b: &mut W::B, path: &str, dest: &str) -> JobId {
    let job = new_download(w, b, path, path, dest);
    b.resume(job).unwrap();
    job
}

fn get_job<W: World>(b: &mut W::B, job: JobId) -> Result<Reply, Hresult> {
    call(b, job, Call::GetJob).map_err(|e| e.code)
}

/// A1: Suspend on TRANSFERRED or ERROR is S_OK and leaves the state.
fn a01_suspend_on_final_states<W: World>() {
    let (w, mut b) = world::<W>();
    let done = download(&w, &mut b, "/a.bin", "a.bin");
    let failed = download(&w, &mut b, "/missing.bin", "m.bin");
    assert_eq!(b.wait_for(done, LONG, &ended), JobState::Transferred);
    assert_eq!(b.wait_for(failed, LONG, &ended), JobState::Error);
    b.suspend(done).unwrap();
    b.suspend(failed).unwrap();
    assert_eq!(b.state(done).unwrap(), JobState::Transferred);
    assert_eq!(b.state(failed).unwrap(), JobState::Error);
}

/// A2: Resume on TRANSFERRED with nothing new is S_OK and changes nothing.
fn a02_resume_on_transferred<W: World>() {
    let (w, mut b) = world::<W>();
    let job = download(&w, &mut b, "/a.bin", "a.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
    b.resume(job).unwrap();
    assert_eq!(b.state(job).unwrap(), JobState::Transferred);
    pass(&mut b, job, Duration::from_millis(300));
    assert_eq!(b.state(job).unwrap(), JobState::Transferred);
    assert_eq!(b.progress(job).unwrap().files_transferred, 1);
}

/// A3: AddFile on TRANSFERRED and on ERROR is accepted; the state changes
/// only at the next Resume.
fn a03_add_file_on_transferred_and_error<W: World>() {
    let (w, mut b) = world::<W>();
    let job = download(&w, &mut b, "/a.bin", "a.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
    b.add_file(job, &w.url("/b.bin"), &w.local("b.bin"))
        .unwrap();
    pass(&mut b, job, Duration::from_millis(300));
    assert_eq!(b.state(job).unwrap(), JobState::Transferred);
    b.resume(job).unwrap();
    assert_ne!(b.state(job).unwrap(), JobState::Transferred, "T7");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
    assert_eq!(b.progress(job).unwrap().files_transferred, 2);

    let failed = download(&w, &mut b, "/missing.bin", "m.bin");
    assert_eq!(b.wait_for(failed, LONG, &ended), JobState::Error);
    b.add_file(failed, &w.url("/b.bin"), &w.local("b2.bin"))
        .unwrap();
    assert_eq!(b.state(failed).unwrap(), JobState::Error);
}

/// A4: a 404 on the first request takes the job from CONNECTING to ERROR.
fn a04_fatal_error_while_connecting<W: World>() {
    let (w, mut b) = world::<W>();
    let job = download(&w, &mut b, "/missing.bin", "m.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Error);
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteFile, Hresult::http(404))
    );
    assert_eq!(b.progress(job).unwrap().bytes_transferred, 0);
}

/// A5: 503 is transient (TRANSIENT_ERROR), 404 fatal (ERROR).
fn a05_http_status_classes<W: World>() {
    let (w, mut b) = world::<W>();
    let busy = download(&w, &mut b, "/always503/a.bin", "a.bin");
    let gone = download(&w, &mut b, "/missing.bin", "m.bin");
    let s = b.wait_for(busy, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    assert_eq!(b.error(busy).unwrap().code, Hresult::http(503));
    assert_eq!(b.wait_for(gone, LONG, &ended), JobState::Error);
    assert_eq!(b.error(gone).unwrap().code, Hresult::http(404));
}

/// A6: the retry comes MinimumRetryDelay (BITS's floor, 5 s) after
/// TRANSIENT_ERROR, not before.
fn a06_retry_after_minimum_retry_delay<W: World>() {
    let (w, mut b) = world::<W>();
    let job = new_download(&w, &mut b, "a06", "/once503/a.bin", "a.bin");
    b.set_minimum_retry_delay(job, 5).unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    pass(&mut b, job, Duration::from_secs(3));
    assert_eq!(
        b.state(job).unwrap(),
        JobState::TransientError,
        "retried early"
    );
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
}

/// A7: Resume from ERROR restarts the no-progress clock: a job whose
/// clock ran out (ERROR) and is resumed meets its next transient error
/// with a fresh clock (TRANSIENT_ERROR), not the expired one (ERROR at
/// once, T24). Retry delay and no-progress timeout are both BITS's 5 s
/// floor, since a retry delay beyond the timeout makes every error fatal
/// (T25).
fn a07_resume_from_error_resets_no_progress<W: World>() {
    let (w, mut b) = world::<W>();
    let job = new_download(&w, &mut b, "a07", "/always503/a.bin", "a.bin");
    b.set_minimum_retry_delay(job, 5).unwrap();
    b.set_no_progress_timeout(job, 5).unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Error, "no expiry");
    assert_eq!(b.error(job).unwrap().code, Hresult::http(503));
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| {
        matches!(s, JobState::TransientError | JobState::Error)
    });
    assert_eq!(s, JobState::TransientError, "the clock was not reset");
    b.cancel(job).unwrap();
}

/// A8: a failing JobModification is not called again.
fn a08_job_modification_not_recalled<W: World>() {
    let (w, mut b) = world::<W>();
    let job = new_download(&w, &mut b, "a08", "/a.bin", "a.bin");
    b.set_notify_flags(job, NotifyFlags::JOB_MODIFICATION.0)
        .unwrap();
    let (cb, calls) = Recorder::new(usize::MAX);
    b.set_notify_interface(job, Some(cb)).unwrap();
    pass(&mut b, job, Duration::from_secs(1));
    let before = calls.modification();
    b.set_priority(job, JobPriority::High).unwrap();
    assert!(settle(&mut b, job, LONG, |_| calls.modification() > before));
    let after = calls.modification();
    assert_eq!(after, before + 1);
    pass(&mut b, job, Duration::from_secs(2));
    assert_eq!(calls.modification(), after, "JobModification called again");
}

/// A9: a failing JobTransferred is called again after the re-call
/// interval (here the policy's 1 s), not before.
fn a09_recall_interval<W: World>() {
    let (w, mut b) = W::start(quick_recall());
    let job = new_download(&w, &mut b, "a09", "/a.bin", "a.bin");
    let (cb, calls) = Recorder::new(1);
    b.set_notify_interface(job, Some(cb)).unwrap();
    b.resume(job).unwrap();
    assert!(settle(&mut b, job, LONG, |_| calls.transferred() >= 1));
    pass(&mut b, job, Duration::from_millis(500));
    assert_eq!(calls.transferred(), 1, "re-called before the interval");
    assert!(settle(&mut b, job, LONG, |_| calls.transferred() >= 2));
    pass(&mut b, job, Duration::from_secs(2));
    assert_eq!(calls.transferred(), 2, "called again after S_OK");
}

/// A10: Complete before a failed JobTransferred is re-called drops it.
fn a10_complete_drops_pending_notification<W: World>() {
    let (w, mut b) = W::start(quick_recall());
    let job = new_download(&w, &mut b, "a10", "/a.bin", "a.bin");
    let (cb, calls) = Recorder::new(usize::MAX);
    b.set_notify_interface(job, Some(cb)).unwrap();
    b.resume(job).unwrap();
    assert!(settle(&mut b, job, LONG, |_| calls.transferred() >= 1));
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    pass(&mut b, job, Duration::from_millis(2500));
    assert_eq!(calls.transferred(), 1, "re-called after Complete");
}

/// A11: a failing callback does not change the job's error (no
/// QUEUE_MANAGER_NOTIFICATION context).
fn a11_callback_failure_keeps_the_error<W: World>() {
    let (w, mut b) = W::start(quick_recall());
    let job = new_download(&w, &mut b, "a11", "/missing.bin", "m.bin");
    let (cb, calls) = Recorder::new(usize::MAX);
    b.set_notify_interface(job, Some(cb)).unwrap();
    b.resume(job).unwrap();
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Error);
    assert!(settle(&mut b, job, LONG, |_| calls.error() >= 2));
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteFile, Hresult::http(404))
    );
    assert_eq!(b.state(job).unwrap(), JobState::Error);
}

/// A12: when the owner logs off, the running job goes back to QUEUED (not
/// SUSPENDED) and waits; it runs again when the owner logs on.
fn a12_owner_logoff_requeues<W: World>() {
    let (w, mut b) = world::<W>();
    let job = download(&w, &mut b, "/slow/big.bin", "big.bin");
    let s = b.wait_for(job, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);
    w.set_logged_on(&mut b, "tester", false);
    assert_eq!(b.state(job).unwrap(), JobState::Queued, "T19");
    pass(&mut b, job, Duration::from_millis(500));
    assert_eq!(
        b.state(job).unwrap(),
        JobState::Queued,
        "ran while logged off"
    );
    w.set_logged_on(&mut b, "tester", true);
    let s = b.wait_for(job, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);
    b.cancel(job).unwrap();
}

/// A13: losing the network blocks the running job (TRANSIENT_ERROR, T27)
/// and one resumed while it is down; SUSPENDED and TRANSFERRED jobs stay;
/// when it comes back the blocked jobs run again (T28).
fn a13_network_loss<W: World>() {
    let (w, mut b) = world::<W>();
    let done = download(&w, &mut b, "/a.bin", "a.bin");
    assert_eq!(b.wait_for(done, LONG, &ended), JobState::Transferred);
    let idle = new_download(&w, &mut b, "idle", "/b.bin", "b.bin");
    let job = download(&w, &mut b, "/slow/big.bin", "big.bin");
    let s = b.wait_for(job, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);
    w.set_network(&mut b, false);
    assert_eq!(b.state(job).unwrap(), JobState::TransientError, "T27");
    assert_eq!(b.state(idle).unwrap(), JobState::Suspended);
    assert_eq!(b.state(done).unwrap(), JobState::Transferred);
    let late = download(&w, &mut b, "/b.bin", "late.bin");
    pass(&mut b, job, Duration::from_millis(500));
    assert_eq!(b.state(late).unwrap(), JobState::TransientError);
    assert_eq!(b.state(job).unwrap(), JobState::TransientError);
    w.set_network(&mut b, true);
    for j in [job, late] {
        assert_ne!(b.state(j).unwrap(), JobState::TransientError, "T28");
    }
    let s = b.wait_for(job, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);
    b.cancel(job).unwrap();
}

/// A14: a MaxInternetBandwidth window of 0 blocks background jobs
/// (TRANSIENT_ERROR, BG_E_BLOCKED_BY_POLICY, no error counted) and not
/// foreground ones.
fn a14_bandwidth_zero_blocks_background<W: World>() {
    let mut p = Policy::default();
    p.bandwidth_windows = vec![BandwidthWindow {
        start_secs: 0,
        end_secs: 86_400,
        limit_bytes_per_sec: 0,
    }];
    let (w, mut b) = W::start(p);
    let bg = download(&w, &mut b, "/a.bin", "a.bin");
    let fg = new_download(&w, &mut b, "fg", "/b.bin", "b.bin");
    b.set_priority(fg, JobPriority::Foreground).unwrap();
    b.resume(fg).unwrap();
    assert_eq!(b.wait_for(fg, LONG, &ended), JobState::Transferred);
    let s = b.wait_for(bg, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    assert_eq!(b.error(bg).unwrap().code, Hresult::BG_E_BLOCKED_BY_POLICY);
    assert_eq!(b.error_count(bg).unwrap(), 0);
    pass(&mut b, bg, Duration::from_secs(1));
    assert_eq!(b.state(bg).unwrap(), JobState::TransientError);
}

/// A15: inactivity cancels the job (here after the policy's 1 s): gone
/// from GetJob, CANCELLED through the held view; TRANSFERRED jobs too.
fn a15_inactivity_cancels<W: World>() {
    let mut p = Policy::default();
    p.job_inactivity_timeout = Duration::from_secs(1);
    let (w, mut b) = W::start(p);
    let idle = new_download(&w, &mut b, "idle", "/a.bin", "a.bin");
    let done = download(&w, &mut b, "/b.bin", "b.bin");
    assert_eq!(b.wait_for(done, LONG, &ended), JobState::Transferred);
    let gone = |b: &W::B| {
        [idle, done]
            .iter()
            .all(|j| b.state(*j) == Ok(JobState::Cancelled))
    };
    assert!(settle(&mut b, idle, Duration::from_secs(10), gone));
    for j in [idle, done] {
        assert_eq!(get_job::<W>(&mut b, j), Err(Hresult::BG_E_NOT_FOUND));
    }
}

/// A16: after Cancel, GetJob says BG_E_NOT_FOUND, the held view reads
/// CANCELLED, and state-changing calls return BG_E_INVALID_STATE.
fn a16_final_jobs<W: World>() {
    let (w, mut b) = world::<W>();
    let job = new_download(&w, &mut b, "a16", "/a.bin", "a.bin");
    assert_eq!(get_job::<W>(&mut b, job), Ok(Reply::Job(job)));
    b.cancel(job).unwrap();
    assert_eq!(get_job::<W>(&mut b, job), Err(Hresult::BG_E_NOT_FOUND));
    assert_eq!(b.state(job).unwrap(), JobState::Cancelled);
    assert_eq!(b.resume(job).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    assert_eq!(
        b.suspend(job).unwrap_err().code,
        Hresult::BG_E_INVALID_STATE
    );
}

/// A17: the error object is gone as soon as Resume leaves ERROR.
fn a17_error_cleared_at_resume<W: World>() {
    let (w, mut b) = world::<W>();
    let job = download(&w, &mut b, "/missing.bin", "m.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Error);
    assert!(b.error(job).is_ok());
    b.resume(job).unwrap();
    assert_eq!(
        b.error(job).unwrap_err().code,
        Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE
    );
}

/// A19: Cancel deletes the temporary file and publishes nothing.
fn a19_cancel_deletes_temporary_files<W: World>() {
    let (w, mut b) = world::<W>();
    let dest = w.local("a.bin");
    let job = download(&w, &mut b, "/a.bin", "a.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
    let temp = temp_file_name(&dest, job, FileRef::File(0));
    assert!(w.disk_has(&b, &temp));
    b.cancel(job).unwrap();
    assert!(!w.disk_has(&b, &temp), "{temp} left after Cancel");
    assert!(!w.disk_has(&b, &dest), "Cancel published {dest}");
}

/// A20: one background job at a time; with a 1 s time slice the second
/// job of equal priority gets its turn before the first is done.
fn a20_time_slice<W: World>() {
    let mut p = Policy::default();
    p.time_slice = Duration::from_secs(1);
    let (w, mut b) = W::start(p);
    let first = download(&w, &mut b, "/slow/big.bin", "1.bin");
    let second = download(&w, &mut b, "/slow/big.bin", "2.bin");
    let s = b.wait_for(first, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);
    assert_eq!(
        b.state(second).unwrap(),
        JobState::Queued,
        "two ran at once"
    );
    let s = b.wait_for(second, Duration::from_secs(3), &|s| {
        s == JobState::Transferring
    });
    assert_eq!(s, JobState::Transferring, "no turn for the second job");
    assert_eq!(b.state(first).unwrap(), JobState::Queued);
    assert!(b.progress(first).unwrap().bytes_transferred < BIG);
    b.cancel(first).unwrap();
    b.cancel(second).unwrap();
}

/// A21: a connection failure while CONNECTING counts as an error.
fn a21_connect_failure_counts<W: World>() {
    let (w, mut b) = world::<W>();
    let job = b.create_job("a21", JobType::Download).unwrap();
    b.add_file(job, &w.unreachable("/a.bin"), &w.local("a.bin"))
        .unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    assert_eq!(b.error_count(job).unwrap(), 1);
    assert_eq!(
        b.error(job).unwrap().context,
        ErrorContext::GeneralTransport
    );
}

/// A22: Cancel of an upload whose server is unreachable is immediate.
fn a22_upload_cancel_while_unreachable<W: World>() {
    let (w, mut b) = world::<W>();
    let src = w.local("up.bin");
    w.make_local(&src, 1000);
    let job = b.create_job("a22", JobType::Upload).unwrap();
    b.add_file(job, &w.unreachable("/up/x.bin"), &src).unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| s == JobState::TransientError);
    assert_eq!(s, JobState::TransientError);
    b.cancel(job).unwrap();
    assert_eq!(b.state(job).unwrap(), JobState::Cancelled);
    assert_eq!(get_job::<W>(&mut b, job), Err(Hresult::BG_E_NOT_FOUND));
    let Ok(Reply::Jobs(jobs)) = call(&mut b, job, Call::EnumJobs { flags: 0 }) else {
        panic!("EnumJobs failed");
    };
    assert!(!jobs.contains(&job));
}

/// A23: a new job notifies JOB_TRANSFERRED | JOB_ERROR and has no
/// interface.
fn a23_notify_flag_defaults<W: World>() {
    let (_, mut b) = world::<W>();
    let job = b.create_job("a23", JobType::Download).unwrap();
    assert_eq!(b.notify_flags(job).unwrap(), 0x3);
    assert_eq!(
        call(&mut b, job, Call::GetNotifyInterface),
        Ok(Reply::Callback(None))
    );
}

/// A24: a Set* call is activity for JobInactivityTimeout (here 3 s);
/// getters are not. Both jobs are created at once; at 1.5 s one gets a
/// SetPriority, the other getters; at 3.75 s only the first is left.
fn a24_what_counts_as_activity<W: World>() {
    let mut p = Policy::default();
    p.job_inactivity_timeout = Duration::from_secs(3);
    let (w, mut b) = W::start(p);
    let touched = b.create_job("touched", JobType::Download).unwrap();
    let read = b.create_job("read", JobType::Download).unwrap();
    b.add_file(touched, &w.url("/a.bin"), &w.local("a.bin"))
        .unwrap();
    b.add_file(read, &w.url("/b.bin"), &w.local("b.bin"))
        .unwrap();
    pass(&mut b, touched, Duration::from_millis(1500));
    b.set_priority(touched, JobPriority::Low).unwrap();
    for c in [Call::GetState, Call::GetProgress, Call::GetPriority] {
        call(&mut b, read, c).unwrap();
    }
    pass(&mut b, touched, Duration::from_millis(2250));
    assert_eq!(
        b.state(read).unwrap(),
        JobState::Cancelled,
        "a getter counted"
    );
    assert_eq!(
        b.state(touched).unwrap(),
        JobState::Suspended,
        "SetPriority did not count"
    );
    assert!(settle(&mut b, touched, Duration::from_secs(5), |b| {
        b.state(touched) == Ok(JobState::Cancelled)
    }));
}

/// A25: after a service restart the queue is there, the transfer that ran
/// went back to QUEUED (X2) and starts again by itself, properties and
/// command lines survive, the registered interface is gone.
fn a25_service_restart<W: World>() {
    let (mut w, mut b) = world::<W>();
    let running = new_download(&w, &mut b, "running", "/slow/big.bin", "big.bin");
    b.set_notify_cmd_line(running, Some(SLEEP), Some("sleep 0"))
        .unwrap();
    let (cb, _) = Recorder::new(0);
    b.set_notify_interface(running, Some(cb)).unwrap();
    b.resume(running).unwrap();
    let waiting = new_download(&w, &mut b, "waiting", "/a.bin", "a.bin");
    b.set_minimum_retry_delay(waiting, 60).unwrap();
    let s = b.wait_for(running, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring);

    let mut b = w.restart(b);
    // X2 puts it back in QUEUED and the scheduler's turn in the same
    // step starts it again: CONNECTING, no transfer carried over.
    assert_eq!(b.state(running).unwrap(), JobState::Connecting);
    assert_eq!(b.state(waiting).unwrap(), JobState::Suspended);
    assert_eq!(b.minimum_retry_delay(waiting).unwrap(), 60);
    assert_eq!(
        call(&mut b, running, Call::GetNotifyInterface),
        Ok(Reply::Callback(None)),
        "an interface pointer survived the restart"
    );
    let cmd = call(&mut b, running, Call::GetNotifyCmdLine);
    assert!(
        matches!(&cmd, Ok(Reply::CmdLine(Some((p, _)))) if p == SLEEP),
        "{cmd:?}"
    );
    let s = b.wait_for(running, LONG, &|s| s == JobState::Transferring);
    assert_eq!(s, JobState::Transferring, "the queue did not carry on");
    b.cancel(running).unwrap();
}

/// A26: a running notification command line holds one of its user's four
/// notification slots until it exits: four jobs whose command lines run
/// `sleep 3` hold the fifth job's JobTransferred back until one exits.
fn a26_command_lines_hold_a_slot<W: World>() {
    let (w, mut b) = world::<W>();
    let mut jobs = Vec::new();
    for i in 0..4 {
        let job = b.create_job("sleeper", JobType::Download).unwrap();
        b.add_file(job, &w.url("/a.bin"), &w.local(&format!("{i}.bin")))
            .unwrap();
        b.set_notify_cmd_line(job, Some(SLEEP), Some("sleep 3"))
            .unwrap();
        b.resume(job).unwrap();
        jobs.push(job);
    }
    let last = new_download(&w, &mut b, "last", "/b.bin", "b.bin");
    let (cb, calls) = Recorder::new(0);
    b.set_notify_interface(last, Some(cb)).unwrap();
    b.resume(last).unwrap();
    assert_eq!(b.wait_for(last, LONG, &ended), JobState::Transferred);
    for j in &jobs {
        assert_eq!(b.state(*j).unwrap(), JobState::Transferred);
    }
    pass(&mut b, last, Duration::from_millis(500));
    assert_eq!(
        calls.transferred(),
        0,
        "a fifth notification while four commands ran"
    );
    assert!(settle(&mut b, last, LONG, |_| calls.transferred() == 1));
}

/// A27: when the command line cannot be started and the callback failed,
/// the whole notification is sent again after MinimumRetryDelay (5 s),
/// callback first.
fn a27_command_line_that_cannot_start<W: World>() {
    let (w, mut b) = world::<W>();
    let job = new_download(&w, &mut b, "a27", "/a.bin", "a.bin");
    b.set_minimum_retry_delay(job, 5).unwrap();
    let (cb, calls) = Recorder::new(1);
    b.set_notify_interface(job, Some(cb)).unwrap();
    b.set_notify_cmd_line(job, Some("/nonexistent/bitsim-a27"), None)
        .unwrap();
    b.resume(job).unwrap();
    assert!(settle(&mut b, job, LONG, |_| calls.transferred() >= 1));
    pass(&mut b, job, Duration::from_secs(3));
    assert_eq!(calls.transferred(), 1, "re-sent before MinimumRetryDelay");
    assert!(settle(&mut b, job, LONG, |_| calls.transferred() >= 2));
    assert_eq!(b.state(job).unwrap(), JobState::Transferred);
}

/// A28: after the upload-reply server application answered 403, Resume
/// does not post the upload again \[SRVAPPERR\].
fn a28_no_post_after_403<W: World>() {
    let (w, mut b) = world::<W>();
    let src = w.local("x.bin");
    w.make_local(&src, 1000);
    let job = b.create_job("a28", JobType::UploadReply).unwrap();
    b.add_file(job, &w.url("/app/x.bin"), &src).unwrap();
    b.set_reply_file_name(job, &w.local("x-reply.bin")).unwrap();
    b.resume(job).unwrap();
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Error);
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteApplication, Hresult::http(403))
    );
    assert_eq!(
        w.posts(),
        w.posts().map(|_| 1),
        "one post to the application"
    );

    // [SRVAPPERR]: 403 is "the only error code that prevents BITS from
    // posting the upload file to the server application again". A second
    // post would get a reply and reach TRANSFERRED.
    b.resume(job).unwrap();
    assert_eq!(
        b.wait_for(job, LONG, &ended),
        JobState::Error,
        "the upload was posted again after a 403"
    );
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteApplication, Hresult::http(403))
    );
    assert_eq!(w.posts(), w.posts().map(|_| 1), "posted again after a 403");
    b.cancel(job).unwrap();
}

/// A29: a server certificate the client does not trust (here: from an
/// unknown authority) is fatal at once: ERROR with WinHTTP's code, context
/// GENERAL_TRANSPORT, not TRANSIENT_ERROR and a retry.
fn a29_certificate_failure_is_fatal<W: World>() {
    let (mut w, mut b) = world::<W>();
    let url = w.untrusted("/a.bin");
    let job = b.create_job("a29", JobType::Download).unwrap();
    b.add_file(job, &url, &w.local("a.bin")).unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, LONG, &|s| {
        s != JobState::Queued && s != JobState::Connecting
    });
    assert_eq!(s, JobState::Error);
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (
            ErrorContext::GeneralTransport,
            Hresult::WINHTTP_E_SECURE_INVALID_CA
        )
    );
}

/// A30: a download's temporary file is the model's `temp_file_name`
/// beside the destination, until Complete renames it \[COMPLETE\].
fn a30_temp_file_beside_the_destination<W: World>() {
    let (w, mut b) = world::<W>();
    let dest = w.local("a.bin");
    let job = download(&w, &mut b, "/a.bin", "a.bin");
    assert_eq!(b.wait_for(job, LONG, &ended), JobState::Transferred);
    let temp = temp_file_name(&dest, job, FileRef::File(0));
    assert!(
        Path::new(&temp).parent() == Path::new(&dest).parent(),
        "{temp} is not beside {dest}"
    );
    assert!(w.disk_has(&b, &temp), "no temporary file {temp}");
    assert!(!w.disk_has(&b, &dest), "{dest} published before Complete");
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert!(!w.disk_has(&b, &temp), "{temp} left after Complete");
    assert!(w.disk_has(&b, &dest), "Complete did not publish {dest}");
    assert_eq!(b.progress(job).unwrap().bytes_total, SMALL);
}

/// A31: GetReplyFileName on a job that is not upload-reply is E_NOTIMPL.
fn a31_reply_file_name_on_other_types<W: World>() {
    let (_, mut b) = world::<W>();
    for t in [JobType::Download, JobType::Upload] {
        let job = b.create_job("a31", t).unwrap();
        let r = call(&mut b, job, Call::GetReplyFileName);
        assert_eq!(r.map_err(|e| e.code), Err(Hresult::E_NOTIMPL), "{t}");
    }
    let job = b.create_job("a31", JobType::UploadReply).unwrap();
    assert!(call(&mut b, job, Call::GetReplyFileName).is_ok());
}

/// A32: no SetReplyFileName before the first Resume: BITS names the reply
/// itself, in the upload file's folder \[REPLYFILE\].
fn a32_reply_file_named_at_first_resume<W: World>() {
    let (w, mut b) = world::<W>();
    let src = w.local("x.bin");
    w.make_local(&src, 1000);
    let job = b.create_job("a32", JobType::UploadReply).unwrap();
    b.add_file(job, &w.url("/app/x.bin"), &src).unwrap();
    let name = |b: &mut W::B| match call(b, job, Call::GetReplyFileName) {
        Ok(Reply::ReplyFileName(n)) => n,
        other => panic!("GetReplyFileName: {other:?}"),
    };
    assert_eq!(name(&mut b), None, "no name before the first Resume");
    b.resume(job).unwrap();
    let want = invented_reply_file_name(&src, job);
    assert_eq!(name(&mut b), Some(want.clone()));
    let folder = |p: &str| std::path::Path::new(p).parent().map(|d| d.to_owned());
    assert_eq!(folder(&want), folder(&src), "beside the upload file");
    b.cancel(job).unwrap();
}

/// Two test functions per case: `$sim` runs it on the simulator, `$rt` on
/// the real-time driver.
macro_rules! both {
    ($($case:ident: $sim:ident, $rt:ident;)*) => {$(
        #[test]
        fn $sim() {
            $case::<Sim>();
        }
        #[test]
        fn $rt() {
            $case::<Real>();
        }
    )*};
}

both! {
    a01_suspend_on_final_states:
        a01_suspend_on_final_states_on_the_simulator,
        a01_suspend_on_final_states_on_the_real_time_driver;
    a02_resume_on_transferred:
        a02_resume_on_transferred_on_the_simulator,
        a02_resume_on_transferred_on_the_real_time_driver;
    a03_add_file_on_transferred_and_error:
        a03_add_file_on_transferred_and_error_on_the_simulator,
        a03_add_file_on_transferred_and_error_on_the_real_time_driver;
    a04_fatal_error_while_connecting:
        a04_fatal_error_while_connecting_on_the_simulator,
        a04_fatal_error_while_connecting_on_the_real_time_driver;
    a05_http_status_classes:
        a05_http_status_classes_on_the_simulator,
        a05_http_status_classes_on_the_real_time_driver;
    a06_retry_after_minimum_retry_delay:
        a06_retry_after_minimum_retry_delay_on_the_simulator,
        a06_retry_after_minimum_retry_delay_on_the_real_time_driver;
    a07_resume_from_error_resets_no_progress:
        a07_resume_from_error_resets_no_progress_on_the_simulator,
        a07_resume_from_error_resets_no_progress_on_the_real_time_driver;
    a08_job_modification_not_recalled:
        a08_job_modification_not_recalled_on_the_simulator,
        a08_job_modification_not_recalled_on_the_real_time_driver;
    a09_recall_interval:
        a09_recall_interval_on_the_simulator,
        a09_recall_interval_on_the_real_time_driver;
    a10_complete_drops_pending_notification:
        a10_complete_drops_pending_notification_on_the_simulator,
        a10_complete_drops_pending_notification_on_the_real_time_driver;
    a11_callback_failure_keeps_the_error:
        a11_callback_failure_keeps_the_error_on_the_simulator,
        a11_callback_failure_keeps_the_error_on_the_real_time_driver;
    a12_owner_logoff_requeues:
        a12_owner_logoff_requeues_on_the_simulator,
        a12_owner_logoff_requeues_on_the_real_time_driver;
    a13_network_loss:
        a13_network_loss_on_the_simulator,
        a13_network_loss_on_the_real_time_driver;
    a14_bandwidth_zero_blocks_background:
        a14_bandwidth_zero_blocks_background_on_the_simulator,
        a14_bandwidth_zero_blocks_background_on_the_real_time_driver;
    a15_inactivity_cancels:
        a15_inactivity_cancels_on_the_simulator,
        a15_inactivity_cancels_on_the_real_time_driver;
    a16_final_jobs:
        a16_final_jobs_on_the_simulator,
        a16_final_jobs_on_the_real_time_driver;
    a17_error_cleared_at_resume:
        a17_error_cleared_at_resume_on_the_simulator,
        a17_error_cleared_at_resume_on_the_real_time_driver;
    a19_cancel_deletes_temporary_files:
        a19_cancel_deletes_temporary_files_on_the_simulator,
        a19_cancel_deletes_temporary_files_on_the_real_time_driver;
    a20_time_slice:
        a20_time_slice_on_the_simulator,
        a20_time_slice_on_the_real_time_driver;
    a21_connect_failure_counts:
        a21_connect_failure_counts_on_the_simulator,
        a21_connect_failure_counts_on_the_real_time_driver;
    a22_upload_cancel_while_unreachable:
        a22_upload_cancel_while_unreachable_on_the_simulator,
        a22_upload_cancel_while_unreachable_on_the_real_time_driver;
    a23_notify_flag_defaults:
        a23_notify_flag_defaults_on_the_simulator,
        a23_notify_flag_defaults_on_the_real_time_driver;
    a24_what_counts_as_activity:
        a24_what_counts_as_activity_on_the_simulator,
        a24_what_counts_as_activity_on_the_real_time_driver;
    a25_service_restart:
        a25_service_restart_on_the_simulator,
        a25_service_restart_on_the_real_time_driver;
    a26_command_lines_hold_a_slot:
        a26_command_lines_hold_a_slot_on_the_simulator,
        a26_command_lines_hold_a_slot_on_the_real_time_driver;
    a27_command_line_that_cannot_start:
        a27_command_line_that_cannot_start_on_the_simulator,
        a27_command_line_that_cannot_start_on_the_real_time_driver;
    a28_no_post_after_403:
        a28_no_post_after_403_on_the_simulator,
        a28_no_post_after_403_on_the_real_time_driver;
    a29_certificate_failure_is_fatal:
        a29_certificate_failure_is_fatal_on_the_simulator,
        a29_certificate_failure_is_fatal_on_the_real_time_driver;
    a30_temp_file_beside_the_destination:
        a30_temp_file_beside_the_destination_on_the_simulator,
        a30_temp_file_beside_the_destination_on_the_real_time_driver;
    a31_reply_file_name_on_other_types:
        a31_reply_file_name_on_other_types_on_the_simulator,
        a31_reply_file_name_on_other_types_on_the_real_time_driver;
    a32_reply_file_named_at_first_resume:
        a32_reply_file_named_at_first_resume_on_the_simulator,
        a32_reply_file_named_at_first_resume_on_the_real_time_driver;
}
