//! One test per decision of `manual/decisions.md` (A1..), pinning what the
//! decision says the model does where the BITS documentation is silent.

use crate::support::*;
use JobState::*;
use bitsim_model::*;
use std::time::Duration;

#[test]
fn a01_suspend_on_transferred_or_error_is_s_ok_and_changes_nothing() {
    let mut h = H::new();
    for st in [Transferred, Error] {
        let id = h.download(1);
        h.drive_to(id, st);
        let a = h.alice.clone();
        assert_eq!(h.m.suspend(h.now, &a, id), Ok(()));
        let outs = h.drain();
        assert_eq!(h.state(id), st);
        assert!(!rules(&outs).contains(&Rule::T8));
        assert!(!Rule::T8.fires_from(st));
    }
}

#[test]
fn a02_resume_on_transferred_with_nothing_new_is_a_no_op() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferred);
    h.resume(id);
    let outs = h.drain();
    assert_eq!(h.state(id), Transferred);
    assert!(transitions(&outs).iter().all(|t| t.1 == t.2), "{outs:?}");
}

#[test]
fn a02_resume_of_a_suspended_job_whose_files_are_all_done_goes_to_transferred() {
    // Not reachable through the API today; built through the persisted form.
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferred);
    let mut v = serde_json::to_value(&h.m).unwrap();
    let key = id.0.to_string();
    let job = v["jobs"]
        .as_array_mut()
        .expect("jobs persist as a list")
        .iter_mut()
        .find(|j| j["id"] == key.as_str())
        .and_then(|j| j.as_object_mut())
        .expect("job in json");
    job.insert("state".into(), serde_json::json!("SUSPENDED"));
    h.m = serde_json::from_value(v).unwrap();
    assert_eq!(h.state(id), Suspended);
    h.resume(id);
    let outs = h.drain();
    assert_eq!(
        rules(&outs),
        vec![Rule::T2, Rule::T13, Rule::T14, Rule::T20]
    );
    assert_eq!(h.state(id), Transferred);
}

#[test]
fn a03_add_file_on_transferred_or_error_keeps_state_until_resume() {
    let mut h = H::new();
    let a = h.alice.clone();
    for (st, rule) in [(Transferred, Rule::T7), (Error, Rule::T4)] {
        let id = h.download(1);
        h.drive_to(id, st);
        h.add_as(&a, id, 1);
        let outs = h.drain();
        assert_eq!(h.state(id), st);
        assert_rule(&outs, id, Rule::X4, st, st);
        h.resume(id);
        assert_rule(&h.drain(), id, rule, st, Queued);
        h.m.cancel(h.now, &a, id).unwrap();
    }
}

#[test]
fn a04_fatal_error_while_connecting_goes_to_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Connecting);
    h.http_error(id, 404);
    assert_rule(&h.drain(), id, Rule::T22, Connecting, Error);
}

#[test]
fn a05_download_http_statuses_use_the_server_application_table() {
    let ctx = ErrorContext::RemoteFile;
    assert_eq!(classify(Hresult::http(404), ctx), ErrorClass::Fatal);
    assert_eq!(classify(Hresult::http(503), ctx), ErrorClass::Transient);
    assert_eq!(
        classify(Hresult::BG_E_CONNECT_FAILURE, ctx),
        ErrorClass::Transient
    );
    assert_eq!(
        classify(Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT, ctx),
        ErrorClass::Fatal
    );
    assert_eq!(
        classify(Hresult::BG_E_MISSING_FILE_SIZE, ctx),
        ErrorClass::Fatal
    );
    assert_eq!(classify(Hresult::E_FAIL, ctx), ErrorClass::Transient);
    // The caller may force the class.
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferring);
    let mut e = TransferError::http(503, FileRef::File(0));
    e.class = Some(ErrorClass::Fatal);
    assert!(h.m.handle_transfer_error(h.now, id, e));
    assert_eq!(h.state(id), Error);
}

#[test]
fn a06_retry_fires_exactly_at_the_delay_and_the_no_progress_clock_runs_from_the_first_error() {
    let mut h = H::new();
    let id = h.download(1);
    let a = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &a, id, 10).unwrap();
    h.m.set_no_progress_timeout(h.now, &a, id, 100).unwrap();
    h.drive_to(id, TransientError);
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(10)));
    h.m.handle_timeout(Time::from_millis(9_999));
    assert_eq!(h.state(id), TransientError);
    h.now = Time::from_secs(10);
    h.m.handle_timeout(h.now);
    assert_eq!(h.state(id), Connecting);
    // The job goes elsewhere (SUSPENDED) past the deadline: no expiry there...
    h.m.suspend(h.now, &a, id).unwrap();
    h.advance_secs(200);
    assert_eq!(h.state(id), Suspended);
    // ...but its next transient error is fatal (clock started at t=0).
    h.resume(id);
    h.connected(id);
    h.http_error(id, 503);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T24, TransientError, Error);
    // A network block does not start the clock.
    let id = h.download(1);
    h.m.set_no_progress_timeout(h.now, &a, id, 100).unwrap();
    h.m.set_minimum_retry_delay(h.now, &a, id, 10).unwrap();
    h.drive_to(id, Transferring);
    h.m.handle_network_change(h.now, false);
    assert_eq!(h.job(id).timers.no_progress_since, None);
    h.advance_secs(500);
    assert_eq!(h.state(id), TransientError);
    h.m.handle_network_change(h.now, true);
    h.connected(id);
    h.http_error(id, 503);
    assert_eq!(h.state(id), TransientError, "a fresh episode");
}

#[test]
fn a07_bytes_and_resume_from_error_reset_the_no_progress_clock_resume_from_transient_does_not() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.m.set_minimum_retry_delay(h.now, &a, id, 5).unwrap();
    h.m.set_no_progress_timeout(h.now, &a, id, 100).unwrap();
    h.drive_to(id, TransientError);
    assert_eq!(h.job(id).timers.no_progress_since, Some(Time::ZERO));
    h.advance_secs(50);
    h.resume(id); // T5: clock keeps running
    h.connected(id);
    assert_eq!(h.job(id).timers.no_progress_since, Some(Time::ZERO));
    assert!(h.m.handle_progress(h.now, id, 0, 1));
    assert_eq!(
        h.job(id).timers.no_progress_since,
        None,
        "any byte resets it"
    );
    h.http_error(id, 503);
    assert_eq!(h.job(id).timers.no_progress_since, Some(h.now));
    // Resume from ERROR restarts it.
    let id = h.download(1);
    h.drive_to(id, TransientError);
    h.advance_secs(600);
    h.http_error(id, 404);
    assert_eq!(h.state(id), Error);
    assert!(h.job(id).timers.no_progress_since.is_some());
    h.resume(id);
    assert_eq!(h.job(id).timers.no_progress_since, None);
}

#[test]
fn a08_job_modification_is_not_recalled_and_is_coalesced_to_one_per_500_ms() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    let outs = h.drain();
    let n = notify_id(&outs, NotifyKind::JobModification);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    h.advance_secs(3600);
    assert!(
        kinds(&h.drain()).is_empty(),
        "a failing JobModification is not re-called"
    );
    // Many changes within 500 ms: one JobModification, at the interval.
    let a = h.alice.clone();
    for i in 0..10 {
        h.m.set_description(h.now, &a, id, &format!("d{i}"))
            .unwrap();
    }
    assert_eq!(kinds(&h.drain()), vec![NotifyKind::JobModification]);
    for i in 0..10 {
        h.m.set_description(h.now, &a, id, &format!("e{i}"))
            .unwrap();
    }
    assert!(kinds(&h.drain()).is_empty());
    h.advance(Duration::from_millis(499));
    assert!(kinds(&h.drain()).is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(kinds(&h.drain()), vec![NotifyKind::JobModification]);
}

#[test]
fn a09_recall_interval_is_minimum_retry_delay_or_the_policy_override() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let a = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &a, id, 42).unwrap();
    h.drive_to(id, Error);
    let n = notify_id(&h.log, NotifyKind::JobError);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    h.drain();
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(42)));
    let mut p = Policy::default();
    p.callback_retry_interval = Some(Duration::from_secs(7));
    let mut h = H::with_policy(p);
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Error);
    let n = notify_id(&h.log, NotifyKind::JobError);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    h.advance_secs(7);
    assert_eq!(kinds(&h.drain()), vec![NotifyKind::JobError]);
}

#[test]
fn a10_acting_on_the_job_drops_a_pending_job_transferred_or_job_error() {
    let mut h = H::new();
    let a = h.alice.clone();
    // Fill alice's four slots so the events stay pending.
    let blockers: Vec<JobId> = (0..4).map(|_| h.download(1)).collect();
    for &b in &blockers {
        h.register(b, 1);
        h.m.set_priority(h.now, &a, b, JobPriority::Foreground)
            .unwrap();
        h.drive_to(b, Error);
    }
    assert_eq!(h.m.outstanding_notifications(&a.user), 4);
    let x = h.download(1);
    h.register(x, 2);
    h.m.set_priority(h.now, &a, x, JobPriority::Foreground)
        .unwrap();
    h.drive_to(x, Transferred);
    let e = h.download(1);
    h.register(e, 2);
    h.m.set_priority(h.now, &a, e, JobPriority::Foreground)
        .unwrap();
    h.drive_to(e, Error);
    h.m.complete(h.now, &a, x).unwrap();
    h.resume(e);
    h.ack_all();
    h.advance_secs(600);
    h.ack_all();
    let late: Vec<_> = notifies(&h.log)
        .into_iter()
        .filter(|n| n.1 == x || n.1 == e)
        .map(|n| n.2)
        .collect();
    assert!(
        !late.contains(&NotifyKind::JobTransferred) && !late.contains(&NotifyKind::JobError),
        "{late:?}"
    );
}

#[test]
fn a11_callback_failures_never_change_the_job_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Error);
    let before = h.job(id).error.clone();
    for _ in 0..3 {
        let n = notifies(&h.drain()).first().map(|n| n.0);
        let n = n.unwrap_or_else(|| notify_id(&h.log, NotifyKind::JobError));
        h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
        h.advance_secs(600);
    }
    assert_eq!(h.job(id).error, before);
    assert_ne!(
        h.job(id).error.as_ref().unwrap().context,
        ErrorContext::QueueManagerNotification
    );
    // A transferred job whose callback fails has no error at all.
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Transferred);
    h.m.handle_callback_result(
        h.now,
        notify_id(&h.log, NotifyKind::JobTransferred),
        Hresult::E_FAIL,
    );
    assert!(h.job(id).error.is_none());
}

#[test]
fn a12_logoff_requeues_rather_than_suspends_and_the_scheduler_skips_the_user() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Connecting);
    h.m.handle_logoff(h.now, &h.alice.user.clone());
    assert_eq!(h.state(id), Queued);
    let other = h.download(1);
    h.resume(other);
    assert_eq!(h.state(other), Queued);
    let b = h.bob.clone();
    let bj = h.download_as(&b, 1);
    h.resume(bj);
    assert_eq!(h.state(bj), Connecting, "bob's job runs while alice's wait");
}

#[test]
fn a13_network_loss_blocks_connecting_but_not_suspended_error_or_transferred() {
    let mut h = H::new();
    let a = h.alice.clone();
    let mk = |h: &mut H, st| {
        let id = h.download(1);
        h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
            .unwrap();
        h.drive_to(id, st);
        id
    };
    let c = mk(&mut h, Connecting);
    let s = mk(&mut h, Suspended);
    let e = mk(&mut h, Error);
    let t = mk(&mut h, Transferred);
    h.m.handle_network_change(h.now, false);
    let outs = h.drain();
    assert_rule(&outs, c, Rule::T27, Connecting, TransientError);
    assert_eq!(
        (h.state(s), h.state(e), h.state(t)),
        (Suspended, Error, Transferred)
    );
    h.resume(s);
    assert_eq!(h.state(s), TransientError);
    assert_eq!(
        h.job(s).get_error().unwrap().code,
        Hresult::BG_E_NETWORK_DISCONNECTED
    );
}

#[test]
fn a14_bandwidth_block_has_no_timer_no_error_count_and_no_no_progress_expiry() {
    let mut h = H::with_policy(blocking_policy());
    let a = h.alice.clone();
    let id = h.download(1);
    h.m.set_no_progress_timeout(h.now, &a, id, 60).unwrap();
    h.m.set_minimum_retry_delay(h.now, &a, id, 5).unwrap();
    h.resume(id);
    assert_eq!(h.state(id), TransientError);
    h.advance_secs(3599);
    assert_eq!(h.state(id), TransientError);
    assert_eq!(h.job(id).error_count, 0);
    assert_eq!(
        h.job(id).get_error().unwrap().code,
        Hresult::BG_E_BLOCKED_BY_POLICY
    );
    h.advance_secs(1);
    assert_eq!(h.state(id), Connecting);
}

#[test]
fn a14_window_end_is_honoured_even_when_a_call_sees_it_first() {
    let mut h = H::with_policy(blocking_policy());
    let id = h.download(1);
    h.resume(id);
    assert_eq!(h.state(id), TransientError);
    // The driver's timer is late: an API call arrives after the window.
    h.now = Time::from_secs(4000);
    let a = h.alice.clone();
    h.m.set_description(h.now, &a, id, "late").unwrap();
    h.m.handle_timeout(h.now);
    assert_eq!(h.state(id), Connecting, "X1 must still fire");
    assert!(rules(&h.drain()).contains(&Rule::X1));
}

#[test]
fn a15_inactivity_removes_silently_and_the_view_reads_cancelled() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, Transferred);
    h.advance_secs(1);
    h.ack_all();
    h.advance_secs(90 * DAY - 1);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T31, Transferred, Cancelled);
    assert!(
        kinds(&outs).is_empty(),
        "no JobError/JobModification: {outs:?}"
    );
    assert_eq!(h.job(id).state, Cancelled);
    assert!(h.m.enum_jobs(&a, 0).unwrap().is_empty());
    assert_eq!(code(h.m.get_job(&a, id)), Hresult::BG_E_NOT_FOUND);
}

#[test]
fn a16_final_jobs_are_not_found_but_readable() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.drive_to(id, Acknowledged);
    assert_eq!(code(h.m.get_job(&a, id)), Hresult::BG_E_NOT_FOUND);
    assert_eq!(h.m.job(id).unwrap().state, Acknowledged);
    assert_eq!(h.job(id).progress().files_transferred, 1);
    assert_eq!(code(h.m.resume(h.now, &a, id)), Hresult::BG_E_INVALID_STATE);
}

#[test]
fn a17_error_object_is_cleared_at_resume() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.drive_to(id, Error);
    h.m.handle_logoff(h.now, &a.user); // so Resume leaves it QUEUED
    h.resume(id);
    assert_eq!(h.state(id), Queued);
    assert!(h.job(id).error.is_none());
    assert_eq!(
        code(h.job(id).get_error()),
        Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE
    );
}

#[test]
fn a18_partial_complete_with_a_failing_rename_keeps_the_job_as_it_was() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(2);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    h.drain();
    let r =
        h.m.complete_with(h.now, &a, id, &mut |_, _| Err(Hresult::E_ACCESSDENIED));
    assert_eq!(code(r), Hresult::E_ACCESSDENIED);
    let outs = h.drain();
    assert_eq!(h.state(id), Transferring);
    assert_rule(&outs, id, Rule::T11, Transferring, Transferring);
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::StopTransfer { .. } | Output::DeleteTempFile { .. }
    )));
}

#[test]
fn a19_cancel_deletes_only_temporary_files_never_published_ones() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(2);
    h.drive_to(id, Transferred);
    let r = h.m.complete_with(h.now, &a, id, &mut |_, f| {
        if f == FileRef::File(1) {
            Err(Hresult::E_ACCESSDENIED)
        } else {
            Ok(())
        }
    });
    assert!(r.is_err());
    h.drain();
    h.m.cancel(h.now, &a, id).unwrap();
    let outs = h.drain();
    let deleted: Vec<FileRef> = outs
        .iter()
        .filter_map(|o| match o {
            Output::DeleteTempFile { file, .. } => Some(*file),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        vec![FileRef::File(1)],
        "file 0 was published and stays"
    );
}

#[test]
fn a20_slice_is_configurable_foreground_cap_and_fifo_ties() {
    let mut p = Policy::default();
    p.time_slice = Duration::from_secs(60);
    p.foreground_concurrency = Some(2);
    let mut h = H::with_policy(p);
    let a = h.alice.clone();
    let fg: Vec<JobId> = (0..3).map(|_| h.download(1)).collect();
    for &id in &fg {
        h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
            .unwrap();
        h.resume(id);
    }
    assert_eq!(
        fg.iter().map(|&id| h.state(id)).collect::<Vec<_>>(),
        vec![Connecting, Connecting, Queued]
    );
    let x = h.download(1);
    let y = h.download(1);
    h.resume(y);
    h.resume(x);
    assert_eq!(
        (h.state(y), h.state(x)),
        (Connecting, Queued),
        "first queued runs first"
    );
    h.advance_secs(60);
    assert_eq!((h.state(y), h.state(x)), (Queued, Connecting));
    // A HIGH job in TRANSIENT_ERROR does not hold back the NORMAL ones.
    let hi = h.download(1);
    h.m.set_priority(h.now, &a, hi, JobPriority::High).unwrap();
    h.resume(hi);
    h.connected(hi);
    h.http_error(hi, 503);
    assert!(h.state(x) == Connecting || h.state(y) == Connecting);
}

#[test]
fn a21_connection_failures_count_errors_disconnects_and_policy_blocks_do_not() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Connecting);
    h.http_error(id, 503);
    assert_eq!(h.job(id).error_count, 1);
    h.resume(id);
    h.m.handle_network_change(h.now, false);
    assert_eq!(h.job(id).error_count, 1);
    let mut h = H::with_policy(blocking_policy());
    let id = h.download(1);
    h.resume(id);
    assert_eq!(h.job(id).error_count, 0);
}

#[test]
fn a22_cancelled_upload_is_cancelled_at_once_while_the_session_cancel_lingers() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, TransientError);
    h.m.cancel(h.now, &a, id).unwrap();
    let outs = h.drain();
    assert_eq!(h.state(id), Cancelled);
    assert!(outs.contains(&Output::CancelUploadSession { job: id }));
    assert!(h.m.enum_jobs(&a, 0).unwrap().is_empty());
    assert_eq!(code(h.m.get_job(&a, id)), Hresult::BG_E_NOT_FOUND);
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(DAY)));
    let bogus = h.fresh_id();
    assert!(!h.m.handle_upload_cancelled(h.now, bogus));
}

#[test]
fn a23_notify_flag_defaults_and_no_interface() {
    let mut h = H::new();
    let id = h.download(0);
    assert_eq!(h.job(id).notify_flags, NotifyFlags::DEFAULT);
    assert_eq!(NotifyFlags::DEFAULT.0, 0x3);
    assert!(h.job(id).notify_interface.is_none());
}

#[test]
fn a24_only_changing_calls_and_bytes_are_activity() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Error); // BITS's own state change at t=0
    h.advance_secs(45 * DAY);
    let _ = h.m.get_job(&a, id);
    let _ = h.m.enum_jobs(&a, 0);
    h.advance_secs(45 * DAY);
    assert_eq!(h.state(id), Cancelled, "getters do not count");
    // SetNotifyInterface counts.
    let id = h.download(1);
    h.advance_secs(45 * DAY);
    h.register(id, 1);
    h.advance_secs(45 * DAY);
    assert_eq!(h.state(id), Suspended);
    // Retries are not activity: a job cycling through transient errors expires.
    let id = h.download(1);
    h.m.set_no_progress_timeout(h.now, &a, id, u32::MAX)
        .unwrap();
    let start = h.now;
    h.drive_to(id, TransientError);
    while h.state(id) != Cancelled {
        h.advance_secs(600);
        if h.state(id) == Connecting {
            h.http_error(id, 503);
        }
    }
    assert!(h.now.since(start) <= Duration::from_secs(90 * DAY + 600));
}

#[test]
fn a25_service_restart_keeps_queue_cmd_lines_and_timer_deadlines() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.register(id, 1);
    h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), None)
        .unwrap();
    h.drive_to(id, TransientError);
    let retry = h.job(id).timers.retry_at;
    assert_eq!(retry, Some(Time::from_secs(600)));
    h.advance_secs(100);
    h.m = serde_json::from_str(&serde_json::to_string(&h.m).unwrap()).unwrap();
    h.m.handle_service_restart(h.now);
    assert_eq!(h.job(id).timers.retry_at, retry);
    assert!(h.job(id).notify_interface.is_none());
    assert!(h.job(id).notify_cmd_line.is_some());
    assert_eq!(h.m.poll_timeout(), retry);
    assert_eq!(h.m.outstanding_notifications(&a.user), 0);
}

#[test]
fn a26_a_running_command_line_takes_one_of_four_slots() {
    let mut h = H::new();
    let a = h.alice.clone();
    for _ in 0..4 {
        let id = h.download(1);
        h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
            .unwrap();
        h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), None)
            .unwrap();
        h.drive_to(id, Transferred);
    }
    assert_eq!(commands(&h.log).len(), 4);
    assert_eq!(h.m.outstanding_notifications(&a.user), 4);
    let id = h.download(1);
    h.register(id, 1);
    h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
        .unwrap();
    h.drive_to(id, Transferred);
    assert!(notifies(&h.log).is_empty(), "the callback waits for a slot");
    let c = commands(&h.log)[0].0;
    h.m.handle_command_result(h.now, c, CommandOutcome::Exited(0));
    assert_eq!(kinds(&h.drain()), vec![NotifyKind::JobTransferred]);
}

#[test]
fn a27_a_command_line_that_cannot_start_re_sends_the_notification_callback_first() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.register(id, 1);
    h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), None)
        .unwrap();
    h.m.set_minimum_retry_delay(h.now, &a, id, 30).unwrap();
    h.drive_to(id, Transferred);
    h.m.handle_callback_result(
        h.now,
        notify_id(&h.log, NotifyKind::JobTransferred),
        Hresult::E_FAIL,
    );
    let c = commands(&h.drain())[0].0;
    h.m.handle_command_result(h.now, c, CommandOutcome::FailedToStart(Hresult::E_FAIL));
    h.advance_secs(29);
    assert!(kinds(&h.drain()).is_empty());
    h.advance_secs(1);
    let outs = h.drain();
    assert_eq!(notifies(&outs).len(), 1, "callback first again: {outs:?}");
    assert!(commands(&outs).is_empty());
    // Callback fails again, the command runs and exits 1: the command is re-run, not the callback.
    h.m.handle_callback_result(h.now, notifies(&outs)[0].0, Hresult::E_FAIL);
    let c = commands(&h.drain())[0].0;
    h.m.handle_command_result(h.now, c, CommandOutcome::Exited(1));
    h.advance_secs(30);
    let outs = h.drain();
    assert_eq!(commands(&outs).len(), 1);
    assert!(notifies(&outs).is_empty());
}

#[test]
fn a28_after_a_403_from_the_server_application_the_upload_is_never_posted_again() {
    for (status, refused) in [(403, true), (500, false), (400, false)] {
        let mut h = H::new();
        let id = h.upload(JobType::UploadReply);
        h.resume(id);
        h.connected(id);
        h.drain();
        assert_eq!(h.m.server_application_refusal(id), None);
        let e = TransferError::new(
            Hresult::http(status),
            ErrorContext::RemoteApplication,
            Some(FileRef::Reply),
        );
        assert!(h.m.handle_transfer_error(h.now, id, e));
        let refusal = h.m.server_application_refusal(id);
        assert_eq!(refusal.is_some(), refused, "status {status}");
        if let Some(r) = refusal {
            assert_eq!(
                (r.code, r.context),
                (Hresult::http(403), ErrorContext::RemoteApplication)
            );
        }
    }
    // A 403 from the upload's own server (not the application) is no refusal.
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    h.resume(id);
    h.connected(id);
    h.http_error(id, 403);
    assert_eq!(h.m.server_application_refusal(id), None);
    // Downloads and plain uploads have no server application.
    let d = h.download(1);
    assert_eq!(h.m.server_application_refusal(d), None);
}
