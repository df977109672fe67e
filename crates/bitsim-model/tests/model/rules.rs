//! The rules outside the transition table: notifications, timers and
//! lifetimes, upload specifics, calls invalid by state, limits, isolation,
//! scheduling, the HTTP rule and
//! service restart.

use crate::support::*;
use JobState::*;
use bitsim_model::*;
use std::time::Duration;

const XFER: NotifyKind = NotifyKind::JobTransferred;
const ERR: NotifyKind = NotifyKind::JobError;
const MODIF: NotifyKind = NotifyKind::JobModification;

fn ft(i: usize) -> NotifyKind {
    NotifyKind::FileTransferred(FileRef::File(i))
}

// ---------------------------------------------------------------- §4

#[test]
fn notify_flags_gate_delivery_and_disable_masks_everything() {
    for (flags, want_xfer) in [
        (0x0, false),
        (0x1, true),
        (0x2, false),
        (0x3, true),
        (0x7, false),
        (0x3F, false),
        (0x29, true),
    ] {
        let mut h = H::new();
        let id = h.download(1);
        h.register(id, 1);
        h.flags(id, flags);
        h.drive_to(id, Transferring);
        h.finish_file(id, 0, 10);
        let outs = h.drain();
        assert_eq!(kinds(&outs).contains(&XFER), want_xfer, "flags {flags:#x}");
        if flags & 0x4 != 0 {
            assert!(
                kinds(&h.log).is_empty(),
                "DISABLE lets nothing through: {flags:#x}"
            );
        }
    }
    // JobError is gated by its own bit.
    for (flags, want) in [(0x1, false), (0x2, true), (0x6, false)] {
        let mut h = H::new();
        let id = h.download(1);
        h.register(id, 1);
        h.flags(id, flags);
        h.drive_to(id, Error);
        assert_eq!(kinds(&h.log).contains(&ERR), want, "flags {flags:#x}");
    }
}

#[test]
fn job_transferred_job_error_and_file_transferred_fire_on_their_events() {
    let mut h = H::new();
    let id = h.download(2);
    h.register(id, 1);
    h.flags(id, 0x1 | 0x2 | 0x10);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![ft(0)]);
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(0)), Hresult::S_OK);
    h.finish_file(id, 1, 10);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![ft(1)]);
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(1)), Hresult::S_OK);
    assert_eq!(kinds(&h.drain()), vec![XFER]);
    // JobError on entering ERROR only.
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Error);
    let errs = h
        .log
        .iter()
        .filter(
            |o| matches!(o, Output::Notify { job, kind: NotifyKind::JobError, .. } if *job == id),
        )
        .count();
    assert_eq!(errs, 1);
}

#[test]
fn job_modification_fires_on_changes_but_not_on_entering_error_or_transferred() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    let outs = h.drain();
    assert_eq!(
        kinds(&outs),
        vec![MODIF],
        "SetNotifyFlags is a property change"
    );
    let m = notify_id(&outs, MODIF);
    h.m.handle_callback_result(h.now, m, Hresult::S_OK);
    // Property change: raised, delivered after the 500 ms interval.
    h.advance(Duration::from_millis(500));
    let alice = h.alice.clone();
    h.m.set_description(h.now, &alice, id, "d").unwrap();
    assert_eq!(kinds(&h.drain()), vec![MODIF]);
    // Entering ERROR: JobError only, no JobModification, even later.
    h.advance_secs(1);
    h.ack_all();
    h.resume(id);
    h.connected(id);
    h.advance_secs(1);
    h.ack_all();
    h.http_error(id, 404);
    h.advance_secs(5);
    assert_eq!(kinds(&h.drain()), vec![ERR]);
    // Entering ERROR through SetValidationState(FALSE) neither.
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, Transferred);
    h.advance_secs(5);
    h.ack_all();
    h.m.set_validation_state(h.now, &alice, id, 0, false)
        .unwrap();
    h.advance_secs(5);
    let outs = h.drain();
    assert!(kinds(&outs).contains(&ERR));
    assert!(!kinds(&outs).contains(&MODIF), "{outs:#?}");
}

#[test]
fn file_transferred_is_for_download_files_and_the_reply_not_the_upload() {
    let mut h = H::new();
    let up = h.upload(JobType::UploadReply);
    h.register(up, 1);
    h.flags(up, 0x3 | 0x10);
    h.drive_to(up, Transferring);
    h.finish_file(up, 0, 10);
    assert!(
        kinds(&h.drain()).is_empty(),
        "no FileTransferred for the upload"
    );
    assert!(h.m.handle_reply_done(h.now, up, Some(vec![1])));
    let outs = h.drain();
    assert_eq!(
        kinds(&outs),
        vec![NotifyKind::FileTransferred(FileRef::Reply)]
    );
}

#[test]
fn registering_after_the_event_still_notifies_level_triggered() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferred);
    assert!(kinds(&h.log).is_empty());
    h.register(id, 7);
    let outs = h.drain();
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Notify {
            kind: NotifyKind::JobTransferred,
            callback: CallbackId(7),
            ..
        }
    )));
    let n = notify_id(&outs, XFER);
    h.m.handle_callback_result(h.now, n, Hresult::S_OK);
    // Registering again (the old pointer died) notifies again.
    h.register(id, 8);
    assert_eq!(kinds(&h.drain()), vec![XFER]);
    // Same for command lines, and for ERROR.
    let id = h.download(1);
    h.drive_to(id, Error);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), None)
        .unwrap();
    let outs = h.drain();
    assert_eq!(
        commands(&outs).iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![ERR]
    );
    // Enabling the flag afterwards also re-raises.
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0);
    let before = h.log.len();
    h.drive_to(id, Transferred);
    assert!(!kinds(&h.log[before..]).contains(&XFER));
    h.flags(id, 0x1);
    assert_eq!(kinds(&h.drain()), vec![XFER]);
}

#[test]
fn failing_callback_is_called_again_after_the_retry_interval() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let alice = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &alice, id, 60).unwrap();
    h.drive_to(id, Transferred);
    let n = notify_id(&h.log, XFER);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    let outs = h.drain();
    assert!(outs.contains(&Output::TimerArmed {
        job: id,
        timer: TimerKind::NotificationRetry,
        at: Time::from_secs(60)
    }));
    assert!(kinds(&outs).is_empty());
    h.advance_secs(59);
    assert!(kinds(&h.drain()).is_empty());
    h.advance_secs(1);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![XFER]);
    // S_FALSE is not S_OK for JobTransferred: called again.
    h.m.handle_callback_result(h.now, notify_id(&outs, XFER), Hresult::S_FALSE);
    h.advance_secs(60);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![XFER]);
    h.m.handle_callback_result(h.now, notify_id(&outs, XFER), Hresult::S_OK);
    h.advance_secs(600);
    assert!(kinds(&h.drain()).is_empty(), "S_OK ends the event");
}

#[test]
fn command_line_runs_when_the_callback_fails_and_the_callback_is_not_called_again() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), Some("-x"))
        .unwrap();
    h.drive_to(id, Transferred);
    assert!(commands(&h.log).is_empty(), "callback first");
    let n = notify_id(&h.log, XFER);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    let outs = h.drain();
    assert!(outs.iter().any(|o| matches!(o, Output::RunCommand { kind: NotifyKind::JobTransferred, program, parameters: Some(p), .. } if program == "/bin/n" && p == "-x")));
    assert!(notifies(&outs).is_empty());
    let c = commands(&outs)[0].0;
    h.m.handle_command_result(h.now, c, CommandOutcome::Exited(0));
    h.advance_secs(3 * 600);
    assert!(
        kinds(&h.drain()).is_empty(),
        "the callback is not called again"
    );
}

#[test]
fn command_line_exit_nonzero_reruns_after_minimum_retry_delay() {
    let mut h = H::new();
    let id = h.download(1);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), None)
        .unwrap();
    h.m.set_minimum_retry_delay(h.now, &alice, id, 30).unwrap();
    h.drive_to(id, Transferred);
    let c = commands(&h.log)[0].0;
    h.m.handle_command_result(h.now, c, CommandOutcome::Exited(1));
    h.advance_secs(29);
    assert!(commands(&h.drain()).is_empty());
    h.advance_secs(1);
    let outs = h.drain();
    assert_eq!(commands(&outs).len(), 1);
    // Completing the job ends it: no re-run.
    h.m.handle_command_result(h.now, commands(&outs)[0].0, CommandOutcome::Exited(2));
    h.m.complete(h.now, &alice, id).unwrap();
    h.advance_secs(60);
    assert!(commands(&h.drain()).is_empty());
}

#[test]
fn command_line_is_only_for_transferred_and_error() {
    let mut h = H::new();
    let id = h.download(2);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), None)
        .unwrap();
    h.flags(id, 0x3 | 0x8 | 0x10);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    h.advance_secs(5);
    assert!(commands(&h.log).is_empty(), "{:#?}", h.log);
}

#[test]
fn file_transferred_is_serialized_per_job_and_precedes_job_transferred() {
    let mut h = H::new();
    let id = h.download(3);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x10);
    h.drive_to(id, Transferring);
    for i in 0..3 {
        h.finish_file(id, i, 10);
    }
    assert_eq!(h.state(id), Transferred);
    let outs = h.drain();
    assert_eq!(
        kinds(&outs),
        vec![ft(0)],
        "one at a time, JobTransferred waits"
    );
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(0)), Hresult::S_OK);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![ft(1)]);
    // A failing FileTransferred holds back the next one until it succeeds.
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(1)), Hresult::E_FAIL);
    let outs = h.drain();
    assert!(
        kinds(&outs).is_empty(),
        "file 2 and JobTransferred wait: {outs:#?}"
    );
    h.advance_secs(600);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![ft(1)]);
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(1)), Hresult::S_OK);
    let outs = h.drain();
    assert_eq!(kinds(&outs), vec![ft(2)]);
    h.m.handle_callback_result(h.now, notify_id(&outs, ft(2)), Hresult::S_OK);
    assert_eq!(kinds(&h.drain()), vec![XFER]);
}

#[test]
fn at_most_four_notifications_outstanding_per_user_the_fifth_waits() {
    let mut h = H::new();
    let ids: Vec<JobId> = (0..5).map(|_| h.download(1)).collect();
    let bob = h.bob.clone();
    let bobs = h.download_as(&bob, 1);
    for &id in ids.iter().chain([&bobs]) {
        h.register(id, 1);
        let c = h.owner(id);
        h.m.set_priority(h.now, &c, id, JobPriority::Foreground)
            .unwrap();
        h.resume(id);
        h.connected(id);
    }
    for &id in &ids {
        h.finish_file(id, 0, 10);
    }
    let outs = h.drain();
    assert_eq!(notifies(&outs).len(), 4);
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 4);
    // Another user is unaffected.
    h.finish_file(bobs, 0, 10);
    let outs2 = h.drain();
    assert_eq!(kinds(&outs2), vec![XFER]);
    assert_eq!(h.m.outstanding_notifications(&bob.user), 1);
    // Time passing does not release the fifth.
    h.advance_secs(3600);
    assert!(notifies(&h.drain()).is_empty());
    // One returns: the fifth goes out.
    h.m.handle_callback_result(h.now, notifies(&outs)[0].0, Hresult::S_OK);
    let outs3 = h.drain();
    assert_eq!(notifies(&outs3).len(), 1);
    assert_eq!(notifies(&outs3)[0].1, ids[4]);
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 4);
}

#[test]
fn transient_errors_never_call_job_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, TransientError);
    for _ in 0..5 {
        h.advance_secs(600);
        if h.state(id) == Connecting {
            h.http_error(id, 503);
        }
    }
    assert_eq!(h.state(id), TransientError);
    assert!(!kinds(&h.log).contains(&ERR));
    h.m.handle_network_change(h.now, false);
    h.advance_secs(600);
    assert!(!kinds(&h.log).contains(&ERR));
}

#[test]
fn take_ownership_removes_the_command_line_so_it_never_runs() {
    let mut h = H::new();
    let id = h.download(1);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), None)
        .unwrap();
    let admin = h.admin.clone();
    h.m.take_ownership(h.now, &admin, id).unwrap();
    assert!(h.job(id).notify_cmd_line.is_none());
    h.drive_to(id, Transferred);
    assert!(commands(&h.log).is_empty());
}

#[test]
fn last_registrant_wins() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let admin = h.admin.clone();
    h.m.set_notify_interface(h.now, &admin, id, Some(CallbackId(2)))
        .unwrap();
    h.drive_to(id, Transferred);
    let got: Vec<_> = h
        .log
        .iter()
        .filter_map(|o| match o {
            Output::Notify {
                callback,
                user,
                kind: NotifyKind::JobTransferred,
                ..
            } => Some((*callback, user.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![(CallbackId(2), admin.user.clone())]);
    assert_eq!(h.m.outstanding_notifications(&admin.user), 1);
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 0);
    // Clearing the interface: nobody is told.
    let id = h.download(1);
    h.register(id, 3);
    let alice = h.alice.clone();
    h.m.set_notify_interface(h.now, &alice, id, None).unwrap();
    h.drain();
    h.drive_to(id, Transferred);
    assert!(!notifies(&h.drain()).iter().any(|n| n.1 == id));
}

// ---------------------------------------------------------------- §5

#[test]
fn inactivity_cancels_transferred_uploads_without_touching_the_server_file() {
    let mut h = H::new();
    let up = h.upload(JobType::Upload);
    h.drive_to(up, Transferred);
    let rep = h.upload(JobType::UploadReply);
    h.drive_to(rep, Transferred);
    h.advance_secs(90 * DAY);
    let outs = h.drain();
    assert_rule(&outs, up, Rule::T31, Transferred, Cancelled);
    assert_rule(&outs, rep, Rule::T31, Transferred, Cancelled);
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::CancelUploadSession { .. }))
    );
    assert!(outs.contains(&Output::DeleteTempFile {
        job: rep,
        file: FileRef::Reply
    }));
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::DeleteTempFile { job, .. } if *job == up))
    );
    assert!(outs.contains(&Output::JobRemoved { job: up }));
    assert!(!kinds(&outs).contains(&ERR));
}

#[test]
fn activity_resets_the_inactivity_timer() {
    let mut h = H::new();
    let id = h.download(1);
    h.advance_secs(89 * DAY);
    let alice = h.alice.clone();
    h.m.set_description(h.now, &alice, id, "still here")
        .unwrap();
    h.advance_secs(2 * DAY);
    assert_eq!(h.state(id), Suspended);
    h.advance_secs(87 * DAY);
    assert_eq!(h.state(id), Suspended);
    h.advance_secs(DAY);
    assert_eq!(h.state(id), Cancelled);
    // Transfer progress is activity too.
    let id = h.download(1);
    h.drive_to(id, Transferring);
    h.advance_secs(80 * DAY); // max download time (90 d) not reached
    assert!(h.m.handle_progress(h.now, id, 0, 1));
    h.advance_secs(20 * DAY);
    assert_ne!(h.state(id), Cancelled);
}

#[test]
fn maximum_download_time_counts_only_connecting_and_transferring() {
    let mut h = H::new();
    let id = h.download(1);
    let alice = h.alice.clone();
    h.m.set_maximum_download_time(h.now, &alice, id, 100)
        .unwrap();
    h.m.set_minimum_retry_delay(h.now, &alice, id, 600).unwrap();
    h.drive_to(id, Transferring);
    h.advance_secs(60);
    h.http_error(id, 503);
    h.advance_secs(600); // TRANSIENT_ERROR time does not count; retry -> CONNECTING
    assert_eq!(h.state(id), Connecting);
    h.advance_secs(39);
    assert_eq!(h.state(id), Connecting);
    h.advance_secs(1);
    assert_eq!(h.state(id), Error);
    assert_eq!(
        h.job(id).get_error().unwrap().code,
        Hresult::BG_E_MAXDOWNLOAD_TIMEOUT
    );
    // Suspended/QUEUED time does not count; Resume resets the budget.
    let id = h.download(1);
    h.m.set_maximum_download_time(h.now, &alice, id, 100)
        .unwrap();
    h.drive_to(id, Transferring);
    h.advance_secs(90);
    h.resume(id); // T6, resets
    h.advance_secs(90);
    assert_eq!(h.state(id), Transferring);
    h.m.suspend(h.now, &alice, id).unwrap();
    h.advance_secs(1000);
    h.resume(id);
    h.advance_secs(99);
    assert_eq!(h.state(id), Connecting);
    h.advance_secs(1);
    assert_eq!(h.state(id), Error);
}

#[test]
fn partial_complete_keeps_finished_files_and_deletes_incomplete_temp_files() {
    let mut h = H::new();
    let id = h.download(3);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    assert!(h.m.handle_progress(h.now, id, 1, 5));
    h.drain();
    let alice = h.alice.clone();
    assert_eq!(
        h.m.complete(h.now, &alice, id),
        Ok(Hresult::BG_S_PARTIAL_COMPLETE)
    );
    let outs = h.drain();
    assert_eq!(h.state(id), Acknowledged);
    assert!(outs.contains(&Output::FilePublished {
        job: id,
        file: FileRef::File(0)
    }));
    assert!(outs.contains(&Output::DeleteTempFile {
        job: id,
        file: FileRef::File(1)
    }));
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::DeleteTempFile {
            file: FileRef::File(0) | FileRef::File(2),
            ..
        }
    )));
    assert!(outs.contains(&Output::StopTransfer { job: id }));
    let j = h.job(id);
    assert!(j.file_progress(0).unwrap().completed);
    assert!(!j.file_progress(1).unwrap().completed);
}

#[test]
fn cancel_of_an_unstarted_upload_needs_no_server_session() {
    let mut h = H::new();
    let id = h.upload(JobType::Upload);
    let alice = h.alice.clone();
    h.m.cancel(h.now, &alice, id).unwrap();
    let outs = h.drain();
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::CancelUploadSession { .. }))
    );
    assert!(outs.contains(&Output::JobRemoved { job: id }));
}

#[test]
fn upload_cancel_window_is_the_no_progress_timeout_when_shorter() {
    let mut h = H::new();
    let id = h.upload(JobType::Upload);
    let alice = h.alice.clone();
    h.m.set_no_progress_timeout(h.now, &alice, id, 3600)
        .unwrap();
    h.drive_to(id, Transferring);
    h.m.cancel(h.now, &alice, id).unwrap();
    h.drain();
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(3600)));
    h.advance_secs(3600);
    assert!(h.drain().contains(&Output::JobRemoved { job: id }));
}

// ---------------------------------------------------------------- §7

#[test]
fn upload_jobs_take_exactly_one_file() {
    let mut h = H::new();
    for ty in [JobType::Upload, JobType::UploadReply] {
        let id = h.upload(ty);
        let alice = h.alice.clone();
        let r =
            h.m.add_file(h.now, &alice, id, "https://example.com/x", "/tmp/x");
        assert_eq!(code(r), Hresult::BG_E_TOO_MANY_FILES);
        assert_eq!(h.job(id).files.len(), 1);
        let r = h.m.add_file_with_ranges(
            h.now,
            &alice,
            id,
            "https://example.com/x",
            "/tmp/x",
            &[ByteRange {
                offset: 0,
                length: 1,
            }],
        );
        assert_eq!(code(r), Hresult::E_NOTIMPL);
        // SMB is not for uploads.
        let id2 = h.create_as(&alice, ty);
        assert_eq!(
            code(h.m.add_file(h.now, &alice, id2, "file://server/share/x", "/tmp/x")),
            Hresult::E_INVALIDARG
        );
    }
}

#[test]
fn upload_complete_is_only_allowed_in_transferred() {
    let mut h = H::new();
    for st in [
        Suspended,
        Queued,
        Connecting,
        Transferring,
        TransientError,
        Error,
    ] {
        let id = h.upload(JobType::Upload);
        h.drive_to(id, st);
        let alice = h.alice.clone();
        assert_eq!(
            code(h.m.complete(h.now, &alice, id)),
            Hresult::BG_E_INVALID_STATE,
            "{st}"
        );
        assert_eq!(h.state(id), st);
        h.m.handle_logon(h.now, &alice.user);
        h.m.cancel(h.now, &alice, id).unwrap();
        h.drain();
    }
}

#[test]
fn cancel_after_a_successful_upload_leaves_the_server_file() {
    let mut h = H::new();
    let id = h.upload(JobType::Upload);
    h.drive_to(id, Transferred);
    let alice = h.alice.clone();
    assert_eq!(h.m.cancel(h.now, &alice, id), Ok(Hresult::S_OK));
    let outs = h.drain();
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::CancelUploadSession { .. } | Output::DeleteTempFile { .. }
    )));
    assert!(outs.contains(&Output::JobRemoved { job: id }));
    assert_eq!(h.state(id), Cancelled);
}

#[test]
fn upload_reply_cancel_after_the_upload_cancels_the_reply() {
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    assert!(h.m.handle_reply_progress(h.now, id, 3, 10));
    h.drain();
    let alice = h.alice.clone();
    h.m.cancel(h.now, &alice, id).unwrap();
    let outs = h.drain();
    assert!(outs.contains(&Output::StopTransfer { job: id }));
    assert!(outs.contains(&Output::DeleteTempFile {
        job: id,
        file: FileRef::Reply
    }));
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::CancelUploadSession { .. }))
    );
    assert!(outs.contains(&Output::JobRemoved { job: id }));
}

#[test]
fn reply_progress_total_is_unknown_until_the_reply_starts_and_attributes_errors() {
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    assert_eq!(
        h.job(id).reply_progress().unwrap().bytes_total,
        BG_SIZE_UNKNOWN
    );
    h.drive_to(id, Transferring);
    // Upload fails: REMOTE_FILE, reply total unknown => the upload failed.
    assert!(h.m.handle_transfer_error(h.now, id, TransferError::http(503, FileRef::File(0))));
    let e = h.job(id).get_error().unwrap();
    assert_eq!(e.context, ErrorContext::RemoteFile);
    assert_eq!(
        h.job(id).reply_progress().unwrap().bytes_total,
        BG_SIZE_UNKNOWN
    );
    h.resume(id);
    h.connected(id);
    h.finish_file(id, 0, 10);
    assert_eq!(
        h.job(id).reply_progress().unwrap().bytes_total,
        BG_SIZE_UNKNOWN
    );
    assert!(h.m.handle_reply_progress(h.now, id, 4, 20));
    let rp = h.job(id).reply_progress().unwrap();
    assert_eq!((rp.bytes_total, rp.bytes_transferred), (20, 4));
    // Reply fails: REMOTE_FILE with a known total => the reply failed.
    assert!(h.m.handle_transfer_error(h.now, id, TransferError::http(503, FileRef::Reply)));
    assert_eq!(
        h.job(id).get_error().unwrap().context,
        ErrorContext::RemoteFile
    );
    assert_ne!(
        h.job(id).reply_progress().unwrap().bytes_total,
        BG_SIZE_UNKNOWN
    );
    // Job progress describes the upload half only.
    assert_eq!(h.job(id).progress().bytes_total, 10);
    // Retrying resumes the reply where it was.
    h.resume(id);
    assert!(h.drain().contains(&Output::StartTransfer {
        job: id,
        file: FileRef::Reply,
        offset: 4
    }));
}

#[test]
fn server_application_errors_use_remote_application_context_and_the_http_rule() {
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, Transferring);
    let err = |s| TransferError::new(Hresult::http(s), ErrorContext::RemoteApplication, None);
    assert!(h.m.handle_transfer_error(h.now, id, err(500)));
    assert_eq!(h.state(id), TransientError);
    let e = h.job(id).get_error().unwrap();
    assert_eq!(e.context, ErrorContext::RemoteApplication);
    assert_eq!(
        e.get_file(),
        Err(bitsim_model::Error::new(Hresult::BG_E_FILE_NOT_AVAILABLE))
    );
    h.resume(id);
    h.connected(id);
    assert!(h.m.handle_transfer_error(h.now, id, err(403)));
    assert_eq!(h.state(id), Error);
}

#[test]
fn get_reply_data_rules() {
    let mut h = H::new();
    let dl = h.download(1);
    assert_eq!(code(h.job(dl).reply_data()), Hresult::E_NOTIMPL);
    assert_eq!(code(h.job(dl).reply_progress()), Hresult::E_NOTIMPL);
    let up = h.upload(JobType::Upload);
    assert_eq!(code(h.job(up).reply_data()), Hresult::E_NOTIMPL);
    let id = h.upload(JobType::UploadReply);
    assert_eq!(code(h.job(id).reply_data()), Hresult::BG_E_INVALID_STATE);
    h.drive_to(id, Transferring);
    assert_eq!(code(h.job(id).reply_data()), Hresult::BG_E_INVALID_STATE);
    h.finish_file(id, 0, 10);
    assert!(h.m.handle_reply_done(h.now, id, Some(b"hello".to_vec())));
    assert_eq!(h.job(id).reply_data(), Ok(Some(&b"hello"[..])));
    let alice = h.alice.clone();
    h.m.complete(h.now, &alice, id).unwrap();
    assert_eq!(
        h.job(id).reply_data(),
        Ok(Some(&b"hello"[..])),
        "works after Complete"
    );
    // Over 1 MB.
    let big = h.upload(JobType::UploadReply);
    h.drive_to(big, Transferring);
    h.finish_file(big, 0, 10);
    assert!(h.m.handle_reply_done(h.now, big, Some(vec![0; 1024 * 1024 + 1])));
    assert_eq!(code(h.job(big).reply_data()), Hresult::BG_E_TOO_LARGE);
    assert_eq!(
        h.job(big).reply_progress().unwrap().bytes_total,
        1024 * 1024 + 1
    );
    // A driver that kept no bytes of a big reply: its size decides.
    let kept_none = h.upload(JobType::UploadReply);
    h.drive_to(kept_none, Transferring);
    h.finish_file(kept_none, 0, 10);
    assert!(h.m.handle_reply_progress(h.now, kept_none, 0, 2 * 1024 * 1024));
    assert!(h.m.handle_reply_done(h.now, kept_none, None));
    assert_eq!(code(h.job(kept_none).reply_data()), Hresult::BG_E_TOO_LARGE);
    // Exactly 1 MB is fine; no reply => None.
    let ok = h.upload(JobType::UploadReply);
    h.drive_to(ok, Transferring);
    h.finish_file(ok, 0, 10);
    assert!(h.m.handle_reply_done(h.now, ok, Some(vec![0; 1024 * 1024])));
    assert_eq!(
        h.job(ok).reply_data().unwrap().map(<[u8]>::len),
        Some(1024 * 1024)
    );
    let none = h.upload(JobType::UploadReply);
    h.drive_to(none, Transferring);
    h.finish_file(none, 0, 10);
    assert!(h.m.handle_reply_done(h.now, none, None));
    assert_eq!(h.job(none).reply_data(), Ok(None));
}

#[test]
fn set_reply_file_name_only_before_the_reply_starts() {
    let mut h = H::new();
    let alice = h.alice.clone();
    let dl = h.download(1);
    assert_eq!(
        code(h.m.set_reply_file_name(h.now, &alice, dl, "/tmp/r")),
        Hresult::E_NOTIMPL
    );
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, Transferring);
    assert_eq!(
        h.m.set_reply_file_name(h.now, &alice, id, "/tmp/r1"),
        Ok(())
    );
    h.finish_file(id, 0, 10);
    assert_eq!(
        h.m.set_reply_file_name(h.now, &alice, id, "/tmp/r2"),
        Ok(()),
        "reply not begun yet"
    );
    assert!(h.m.handle_reply_progress(h.now, id, 1, 10));
    assert_eq!(
        code(h.m.set_reply_file_name(h.now, &alice, id, "/tmp/r3")),
        Hresult::BG_E_INVALID_STATE
    );
    assert_eq!(
        h.job(id).reply.as_ref().unwrap().file_name.as_deref(),
        Some("/tmp/r2")
    );
}

// ---------------------------------------------------------------- §1.4

#[test]
fn final_jobs_refuse_every_state_changing_call_and_setter() {
    let mut h = H::new();
    for fin in [Acknowledged, Cancelled] {
        let id = h.download(1);
        h.drive_to(id, fin);
        let a = h.alice.clone();
        let admin = h.admin.clone();
        let t = h.now;
        let m = &mut h.m;
        let codes = vec![
            ("Resume", code(m.resume(t, &a, id))),
            ("Suspend", code(m.suspend(t, &a, id))),
            ("Cancel", code(m.cancel(t, &a, id))),
            ("Complete", code(m.complete(t, &a, id))),
            ("TakeOwnership", code(m.take_ownership(t, &admin, id))),
            (
                "SetMinimumRetryDelay",
                code(m.set_minimum_retry_delay(t, &a, id, 60)),
            ),
            (
                "SetNoProgressTimeout",
                code(m.set_no_progress_timeout(t, &a, id, 60)),
            ),
            (
                "SetPriority",
                code(m.set_priority(t, &a, id, JobPriority::High)),
            ),
            ("SetNotifyFlags", code(m.set_notify_flags(t, &a, id, 1))),
            (
                "SetNotifyInterface",
                code(m.set_notify_interface(t, &a, id, Some(CallbackId(1)))),
            ),
            (
                "SetNotifyInterface(NULL)",
                code(m.set_notify_interface(t, &a, id, None)),
            ),
            (
                "SetNotifyCmdLine",
                code(m.set_notify_cmd_line(t, &a, id, Some("/bin/x"), None)),
            ),
            (
                "SetMaximumDownloadTime",
                code(m.set_maximum_download_time(t, &a, id, 60)),
            ),
            ("SetDisplayName", code(m.set_display_name(t, &a, id, "x"))),
            ("SetDescription", code(m.set_description(t, &a, id, "x"))),
            (
                "AddFile",
                code(m.add_file(t, &a, id, "https://e.com/x", "/tmp/x")),
            ),
            (
                "AddFileWithRanges",
                code(m.add_file_with_ranges(
                    t,
                    &a,
                    id,
                    "https://e.com/x",
                    "/tmp/x",
                    &[ByteRange {
                        offset: 0,
                        length: 1,
                    }],
                )),
            ),
            (
                "SetRemoteName",
                code(m.set_remote_name(t, &a, id, 0, "https://e.com/y")),
            ),
            (
                "SetValidationState",
                code(m.set_validation_state(t, &a, id, 0, false)),
            ),
        ];
        for (name, c) in codes {
            assert_eq!(c, Hresult::BG_E_INVALID_STATE, "{name} on {fin}");
        }
        assert_eq!(h.state(id), fin);
        // Getters through a held view keep working.
        assert_eq!(h.job(id).state, fin);
    }
}

#[test]
fn second_cancel_and_second_complete_are_invalid_state() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    h.m.cancel(h.now, &a, id).unwrap();
    assert_eq!(code(h.m.cancel(h.now, &a, id)), Hresult::BG_E_INVALID_STATE);
    let id = h.download(1);
    h.drive_to(id, Transferred);
    assert_eq!(h.m.complete(h.now, &a, id), Ok(Hresult::S_OK));
    assert_eq!(
        code(h.m.complete(h.now, &a, id)),
        Hresult::BG_E_INVALID_STATE
    );
    assert_eq!(
        code(h.m.set_notify_interface(h.now, &a, id, None)),
        Hresult::BG_E_INVALID_STATE
    );
}

#[test]
fn bad_priority_flags_and_wrong_job_type_are_e_notimpl() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    assert_eq!(
        code(h.m.set_priority_raw(h.now, &a, id, 4)),
        Hresult::E_NOTIMPL
    );
    assert_eq!(h.job(id).priority, JobPriority::Normal);
    assert_eq!(
        code(h.m.set_notify_flags(h.now, &a, id, 0x40)),
        Hresult::E_NOTIMPL
    );
    assert_eq!(h.job(id).notify_flags, NotifyFlags(0x3));
    assert_eq!(h.m.set_notify_flags(h.now, &a, id, 0x3F), Ok(()));
    let up = h.upload(JobType::Upload);
    assert_eq!(
        code(h.m.set_remote_name(h.now, &a, up, 0, "https://e.com/y")),
        Hresult::E_NOTIMPL
    );
    assert_eq!(
        code(h.m.set_validation_state(h.now, &a, up, 0, true)),
        Hresult::E_NOTIMPL
    );
}

#[test]
fn get_error_without_an_error_is_information_unavailable() {
    let mut h = H::new();
    let id = h.download(1);
    let unavailable = Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE;
    assert_eq!(code(h.job(id).get_error()), unavailable);
    h.drive_to(id, TransientError);
    assert!(h.job(id).get_error().is_ok());
    h.resume(id);
    h.connected(id);
    assert_eq!(
        code(h.job(id).get_error()),
        unavailable,
        "gone once transferring again"
    );
    h.finish_file(id, 0, 1);
    assert_eq!(code(h.job(id).get_error()), unavailable);
}

// ---------------------------------------------------------------- limits

#[test]
fn job_limits_per_user_and_per_machine_spare_admins() {
    let mut h = H::new();
    let a = h.alice.clone();
    for _ in 0..60 {
        h.create_as(&a, JobType::Download);
    }
    let id = h.fresh_id();
    assert_eq!(
        code(h.m.create_job(h.now, &a, id, "x", JobType::Download)),
        Hresult::BG_E_TOO_MANY_JOBS_PER_USER
    );
    // Finished jobs stop counting.
    let first = h.m.enum_jobs(&a, 0).unwrap()[0];
    h.m.cancel(h.now, &a, first).unwrap();
    assert!(
        h.m.create_job(h.now, &a, id, "x", JobType::Download)
            .is_ok()
    );
    for u in ["u1", "u2", "u3", "u4"] {
        let c = Caller::user(u);
        for _ in 0..60 {
            h.create_as(&c, JobType::Download);
        }
    }
    let c = Caller::user("u5");
    let id = h.fresh_id();
    assert_eq!(
        code(h.m.create_job(h.now, &c, id, "x", JobType::Download)),
        Hresult::BG_E_TOO_MANY_JOBS_PER_MACHINE
    );
    let admin = h.admin.clone();
    for _ in 0..61 {
        h.create_as(&admin, JobType::Download);
    }
}

#[test]
fn file_and_range_limits_spare_admins() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(200);
    assert_eq!(
        code(h.m.add_file(h.now, &a, id, "https://e.com/x", "/tmp/x")),
        Hresult::BG_E_TOO_MANY_FILES_IN_JOB
    );
    let admin = h.admin.clone();
    assert_eq!(
        h.m.add_file(h.now, &admin, id, "https://e.com/x", "/tmp/x"),
        Ok(())
    );
    assert_eq!(h.job(id).files.len(), 201);
    let ranges: Vec<ByteRange> = (0..501)
        .map(|i| ByteRange {
            offset: i * 10,
            length: 5,
        })
        .collect();
    let id = h.download(0);
    assert_eq!(
        code(h.m.add_file_with_ranges(h.now, &a, id, "https://e.com/x", "/tmp/x", &ranges)),
        Hresult::BG_E_TOO_MANY_RANGES_IN_FILE
    );
    assert_eq!(
        h.m.add_file_with_ranges(h.now, &a, id, "https://e.com/x", "/tmp/x", &ranges[..500]),
        Ok(())
    );
    assert_eq!(
        h.m.add_file_with_ranges(h.now, &admin, id, "https://e.com/x", "/tmp/y", &ranges),
        Ok(())
    );
    assert_eq!(h.job(id).files[0].bytes_total, 2500);
    assert_eq!(
        code(h.m.add_file_with_ranges(h.now, &a, id, "https://e.com/x", "/tmp/z", &[])),
        Hresult::E_INVALIDARG
    );
}

#[test]
fn display_name_over_256_characters_is_invalid() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.fresh_id();
    assert_eq!(
        code(h.m.create_job(h.now, &a, id, &"x".repeat(257), JobType::Download)),
        Hresult::E_INVALIDARG
    );
    assert!(h.m.job(id).is_none());
    assert!(
        h.m.create_job(h.now, &a, id, &"é".repeat(256), JobType::Download)
            .is_ok()
    );
    assert_eq!(
        code(h.m.set_display_name(h.now, &a, id, &"x".repeat(257))),
        Hresult::E_INVALIDARG
    );
    assert_eq!(
        code(h.m.set_description(h.now, &a, id, &"x".repeat(1025))),
        Hresult::BG_E_STRING_TOO_LONG
    );
}

// ---------------------------------------------------------------- isolation

#[test]
fn users_are_isolated_and_all_users_enumeration_needs_admin() {
    let mut h = H::new();
    let (a, b, admin) = (h.alice.clone(), h.bob.clone(), h.admin.clone());
    let id = h.download(1);
    let bid = h.download_as(&b, 1);
    assert_eq!(code(h.m.get_job(&b, id)), Hresult::E_ACCESSDENIED);
    assert_eq!(code(h.m.resume(h.now, &b, id)), Hresult::E_ACCESSDENIED);
    assert_eq!(code(h.m.cancel(h.now, &b, id)), Hresult::E_ACCESSDENIED);
    assert_eq!(
        code(h.m.set_priority(h.now, &b, id, JobPriority::High)),
        Hresult::E_ACCESSDENIED
    );
    assert_eq!(
        code(h.m.add_file(h.now, &b, id, "https://e.com/x", "/tmp/x")),
        Hresult::E_ACCESSDENIED
    );
    assert_eq!(h.state(id), Suspended);
    assert_eq!(h.m.enum_jobs(&a, 0), Ok(vec![id]));
    assert_eq!(h.m.enum_jobs(&b, 0), Ok(vec![bid]));
    assert_eq!(
        code(h.m.enum_jobs(&a, BG_JOB_ENUM_ALL_USERS)),
        Hresult::E_ACCESSDENIED
    );
    assert_eq!(
        h.m.enum_jobs(&admin, BG_JOB_ENUM_ALL_USERS),
        Ok(vec![id, bid])
    );
    // An admin may act on anyone's job without TakeOwnership.
    assert!(h.m.get_job(&admin, id).is_ok());
    assert_eq!(
        h.m.set_priority(h.now, &admin, id, JobPriority::Low),
        Ok(())
    );
    assert_eq!(h.job(id).owner, a.user);
    let bogus = h.fresh_id();
    assert_eq!(code(h.m.get_job(&a, bogus)), Hresult::BG_E_NOT_FOUND);
    assert_eq!(code(h.m.resume(h.now, &a, bogus)), Hresult::BG_E_NOT_FOUND);
}

// ---------------------------------------------------------------- timers & defaults

#[test]
fn minimum_retry_delay_below_five_seconds_is_raised_to_five() {
    let mut h = H::new();
    let id = h.download(1);
    let a = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &a, id, 1).unwrap();
    assert_eq!(h.job(id).minimum_retry_delay, Duration::from_secs(5));
    h.m.set_minimum_retry_delay(h.now, &a, id, 0).unwrap();
    assert_eq!(h.job(id).minimum_retry_delay, Duration::from_secs(5));
    h.drive_to(id, TransientError);
    h.advance_secs(4);
    assert_eq!(h.state(id), TransientError);
    h.advance_secs(1);
    assert_eq!(h.state(id), Connecting);
    h.m.set_minimum_retry_delay(h.now, &a, id, 7).unwrap();
    assert_eq!(h.job(id).minimum_retry_delay, Duration::from_secs(7));
}

#[test]
fn new_job_defaults() {
    let mut h = H::new();
    for ty in JobType::ALL {
        let a = h.alice.clone();
        let id = h.create_as(&a, *ty);
        let j = h.job(id);
        assert_eq!(j.notify_flags.0, 0x3);
        assert_eq!(j.priority, JobPriority::Normal);
        assert_eq!(j.minimum_retry_delay.as_secs(), 600);
        assert_eq!(j.no_progress_timeout.as_secs(), 14 * DAY);
        assert_eq!(j.maximum_download_time.as_secs(), 90 * DAY);
        assert_eq!(j.error_count, 0);
        assert!(j.notify_interface.is_none() && j.notify_cmd_line.is_none());
        assert_eq!(j.reply.is_some(), *ty == JobType::UploadReply);
    }
}

#[test]
fn http_statuses_are_classified_by_the_server_application_table() {
    for (status, want) in [
        (404, Error),
        (403, Error),
        (400, Error),
        (301, Error),
        (307, Error),
        (501, Error),
        (505, Error),
        (503, TransientError),
        (500, TransientError),
        (504, TransientError),
        (408, TransientError),
        (409, TransientError),
        (308, TransientError),
        (306, TransientError),
    ] {
        let mut h = H::new();
        let id = h.download(1);
        h.drive_to(id, Transferring);
        h.http_error(id, status);
        assert_eq!(h.state(id), want, "HTTP {status}");
        assert_eq!(h.job(id).get_error().unwrap().code, Hresult::http(status));
    }
    assert_eq!(Hresult::http(404), Hresult(0x8019_0194));
}

// ---------------------------------------------------------------- scheduler

#[test]
fn foreground_jobs_run_alongside_one_background_job() {
    let mut h = H::new();
    let a = h.alice.clone();
    let fg: Vec<JobId> = (0..3).map(|_| h.download(1)).collect();
    let bg: Vec<JobId> = (0..2).map(|_| h.download(1)).collect();
    for &id in &fg {
        h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
            .unwrap();
    }
    for &id in fg.iter().chain(&bg) {
        h.resume(id);
    }
    for &id in &fg {
        assert_eq!(h.state(id), Connecting);
    }
    assert_eq!((h.state(bg[0]), h.state(bg[1])), (Connecting, Queued));
    // Foreground jobs are not time-sliced away.
    h.advance_secs(600);
    for &id in &fg {
        assert_eq!(h.state(id), Connecting);
    }
    h.m.check_invariants().unwrap();
}

#[test]
fn higher_background_priority_preempts_and_lower_waits() {
    let mut h = H::new();
    let a = h.alice.clone();
    let low = h.download(1);
    h.m.set_priority(h.now, &a, low, JobPriority::Low).unwrap();
    h.drive_to(low, Transferring);
    let high = h.download(1);
    h.m.set_priority(h.now, &a, high, JobPriority::High)
        .unwrap();
    h.resume(high);
    assert_eq!((h.state(high), h.state(low)), (Connecting, Queued));
    // No slice for the lower job while the higher one can run.
    h.advance_secs(3600);
    assert_eq!(h.state(low), Queued);
    // Raising a queued job's priority preempts too.
    let normal = h.download(1);
    h.resume(normal);
    assert_eq!(h.state(normal), Queued);
    h.m.set_priority(h.now, &a, normal, JobPriority::Foreground)
        .unwrap();
    assert_eq!(h.state(normal), Connecting);
    // When the high job is in ERROR the low one runs.
    h.connected(high);
    h.http_error(high, 404);
    assert_eq!(h.state(low), Connecting);
}

#[test]
fn equal_priorities_share_round_robin_slices() {
    let mut h = H::new();
    let ids: Vec<JobId> = (0..3).map(|_| h.download(1)).collect();
    for &id in &ids {
        h.resume(id);
    }
    let running = |h: &H| {
        ids.iter()
            .position(|&id| h.state(id) == Connecting)
            .unwrap()
    };
    let mut seen = vec![running(&h)];
    for _ in 0..3 {
        h.advance_secs(300);
        seen.push(running(&h));
    }
    assert_eq!(seen, vec![0, 1, 2, 0]);
}

#[test]
fn files_of_a_job_are_transferred_in_order() {
    let mut h = H::new();
    let id = h.download(3);
    h.drive_to(id, Transferring);
    let starts = |outs: &[Output]| -> Vec<FileRef> {
        outs.iter()
            .filter_map(|o| match o {
                Output::StartTransfer { file, .. } => Some(*file),
                _ => None,
            })
            .collect()
    };
    assert_eq!(starts(&h.log), vec![FileRef::File(0)]);
    h.finish_file(id, 0, 1);
    h.finish_file(id, 1, 1);
    assert_eq!(starts(&h.drain()), vec![FileRef::File(1), FileRef::File(2)]);
    // A retry resumes the current file at its offset.
    assert!(h.m.handle_file_size(h.now, id, 2, 100));
    assert!(h.m.handle_progress(h.now, id, 2, 42));
    h.http_error(id, 503);
    h.resume(id);
    assert_eq!(
        h.drain().iter().find_map(|o| match o {
            Output::StartTransfer { file, offset, .. } => Some((*file, *offset)),
            _ => None,
        }),
        Some((FileRef::File(2), 42))
    );
}

// ---------------------------------------------------------------- environment

#[test]
fn network_loss_and_restore_across_users() {
    let mut h = H::new();
    let b = h.bob.clone();
    let a1 = h.download(1);
    let b1 = h.download_as(&b, 1);
    let b_fg = h.download_as(&b, 1);
    h.m.set_priority(h.now, &b, b_fg, JobPriority::Foreground)
        .unwrap();
    h.drive_to(a1, Transferring);
    h.resume(b1);
    h.resume(b_fg);
    h.m.handle_network_change(h.now, false);
    for id in [a1, b1, b_fg] {
        assert_eq!(h.state(id), TransientError);
    }
    h.m.check_invariants().unwrap();
    // Resuming while down stays blocked.
    h.resume(a1);
    assert_eq!(h.state(a1), TransientError);
    h.advance_secs(7 * DAY);
    assert_eq!(
        h.state(a1),
        TransientError,
        "no timer retry, no no-progress expiry"
    );
    h.m.handle_network_change(h.now, true);
    assert_eq!(h.state(b_fg), Connecting);
    assert_eq!(h.m.all_jobs().filter(|j| j.state == Connecting).count(), 2);
}

#[test]
fn logoff_affects_only_that_users_jobs() {
    let mut h = H::new();
    let (a, b) = (h.alice.clone(), h.bob.clone());
    let aj = h.download(1);
    let bj = h.download_as(&b, 1);
    h.m.set_priority(h.now, &a, aj, JobPriority::Foreground)
        .unwrap();
    h.m.set_priority(h.now, &b, bj, JobPriority::Foreground)
        .unwrap();
    h.resume(aj);
    h.resume(bj);
    h.m.handle_logoff(h.now, &a.user);
    assert_eq!((h.state(aj), h.state(bj)), (Queued, Connecting));
    // A retry while logged off waits in QUEUED.
    h.m.handle_logon(h.now, &a.user);
    assert_eq!(h.state(aj), Connecting);
    h.http_error(aj, 503);
    h.m.handle_logoff(h.now, &a.user);
    h.advance_secs(600);
    assert_eq!(h.state(aj), Queued);
    h.m.handle_logon(h.now, &a.user);
    assert_eq!(h.state(aj), Connecting);
}

#[test]
fn service_restart_round_trips_through_serde_and_drops_callbacks_only() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(2);
    h.register(id, 9);
    h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), None)
        .unwrap();
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    let other = h.download(1);
    h.m.set_priority(h.now, &a, other, JobPriority::Foreground)
        .unwrap();
    h.drive_to(other, Error);
    h.drain();
    let json = serde_json::to_string(&h.m).unwrap();
    let mut m2: Manager = serde_json::from_str(&json).unwrap();
    assert_eq!(m2, h.m);
    m2.handle_service_restart(h.now);
    h.m = m2;
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X2, Transferring, Queued);
    assert!(h.job(id).notify_interface.is_none());
    assert!(h.job(other).notify_interface.is_none());
    assert_eq!(
        h.job(id).notify_cmd_line.as_ref().unwrap().program,
        "/bin/n"
    );
    assert!(h.job(id).files[0].transferred, "progress persists");
    assert!(outs.contains(&Output::StartTransfer {
        job: id,
        file: FileRef::File(1),
        offset: 0
    }));
    assert_eq!(h.m.outstanding_notifications(&a.user), 0);
    // Command line still delivers the next event.
    h.connected(id);
    h.finish_file(id, 1, 10);
    assert_eq!(
        commands(&h.drain()).iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![XFER]
    );
}

#[test]
fn reply_progress_never_exceeds_the_reply_total() {
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 10);
    assert!(h.m.handle_reply_progress(h.now, id, 50, 60));
    // The server starts a shorter reply: the count restarts within the new total.
    assert!(h.m.handle_reply_progress(h.now, id, 10, 20));
    let rp = h.job(id).reply_progress().unwrap();
    assert_eq!((rp.bytes_total, rp.bytes_transferred), (20, 10));
    // Same total, smaller count: never goes backwards.
    assert!(h.m.handle_reply_progress(h.now, id, 5, 20));
    assert_eq!(h.job(id).reply_progress().unwrap().bytes_transferred, 10);
}

#[test]
fn clearing_disable_re_raises_the_level_triggered_event() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x7);
    h.drive_to(id, Transferred);
    assert!(!kinds(&h.log).contains(&XFER));
    h.flags(id, 0x3);
    assert_eq!(
        kinds(&h.drain()),
        vec![XFER],
        "JobTransferred is due once DISABLE is cleared"
    );
}

#[test]
fn flags_cleared_before_delivery_stop_a_pending_notification() {
    let mut h = H::new();
    let a = h.alice.clone();
    // Fill alice's four slots.
    for _ in 0..4 {
        let b = h.download(1);
        h.register(b, 1);
        h.m.set_priority(h.now, &a, b, JobPriority::Foreground)
            .unwrap();
        h.drive_to(b, Error);
    }
    let id = h.download(1);
    h.register(id, 2);
    h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
        .unwrap();
    h.drive_to(id, Transferred); // JobTransferred waits for a slot
    h.flags(id, 0x4); // the app disables notifications
    h.ack_all();
    h.advance_secs(1);
    h.ack_all();
    let late: Vec<_> = notifies(&h.log)
        .into_iter()
        .filter(|n| n.1 == id)
        .map(|n| n.2)
        .collect();
    assert!(
        late.is_empty(),
        "DISABLE gates delivery, not only raising: {late:?}"
    );
}

#[test]
fn upload_reply_complete_whose_reply_rename_fails_is_t11() {
    let mut h = H::new();
    let id = h.upload(JobType::UploadReply);
    h.drive_to(id, Transferred);
    let a = h.alice.clone();
    let r =
        h.m.complete_with(h.now, &a, id, &mut |_, _| Err(Hresult::E_ACCESSDENIED));
    assert_eq!(code(r), Hresult::E_ACCESSDENIED);
    let outs = h.drain();
    assert_eq!(h.state(id), Transferred);
    assert_rule(&outs, id, Rule::T11, Transferred, Transferred);
    assert_eq!(rule_code(&outs, Rule::T11), Some(Hresult::E_ACCESSDENIED));
}

#[test]
fn disconnects_chkdsk_and_policy_blocks_do_not_count_as_errors() {
    for c in [
        Hresult::BG_E_NETWORK_DISCONNECTED,
        Hresult::BG_E_DESTINATION_LOCKED,
        Hresult::BG_E_BLOCKED_BY_POLICY,
    ] {
        let mut h = H::new();
        let id = h.download(1);
        h.drive_to(id, Transferring);
        assert!(h.m.handle_transfer_error(
            h.now,
            id,
            TransferError::new(c, ErrorContext::GeneralTransport, None)
        ));
        assert_eq!(h.state(id), TransientError, "{c}");
        assert_eq!(h.job(id).error_count, 0, "{c} counted");
    }
}

#[test]
fn names_urls_and_command_lines_are_validated() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(0);
    let long_url = format!("https://example.com/{}", "a".repeat(2200));
    assert_eq!(
        code(h.m.add_file(h.now, &a, id, &long_url, "/tmp/x")),
        Hresult::E_INVALIDARG
    );
    assert_eq!(
        code(h.m.add_file(h.now, &a, id, "ftp://example.com/x", "/tmp/x")),
        Hresult::E_INVALIDARG
    );
    assert_eq!(
        code(h.m.add_file(h.now, &a, id, "https://example.com/x", "relative/x")),
        Hresult::E_INVALIDARG
    );
    assert_eq!(
        code(h.m.add_file(h.now, &a, id, "https://example.com/x", "/tmp/*.bin")),
        Hresult::E_INVALIDARG
    );
    assert_eq!(
        h.m.add_file(h.now, &a, id, "https://example.com/x", "C:\\data\\x.bin"),
        Ok(())
    );
    assert_eq!(
        h.m.add_file(h.now, &a, id, "file://server/share/x", "/tmp/y"),
        Ok(())
    );
    assert_eq!(h.job(id).files.len(), 2, "failed AddFile adds nothing");
    let p261 = format!("/{}", "p".repeat(260));
    assert_eq!(
        code(h.m.set_notify_cmd_line(h.now, &a, id, Some(&p261), None)),
        Hresult::BG_E_STRING_TOO_LONG
    );
    assert_eq!(
        code(h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), Some(&"x".repeat(4001)))),
        Hresult::BG_E_STRING_TOO_LONG
    );
    assert_eq!(
        h.m.set_notify_cmd_line(h.now, &a, id, Some("/bin/n"), Some(&"x".repeat(4000))),
        Ok(())
    );
    assert_eq!(
        code(h.m.set_notify_cmd_line(h.now, &a, id, None, Some("x"))),
        Hresult::E_INVALIDARG
    );
    assert!(h.job(id).notify_cmd_line.is_some());
    assert_eq!(h.m.set_notify_cmd_line(h.now, &a, id, None, None), Ok(()));
    assert!(h.job(id).notify_cmd_line.is_none());
}

#[test]
fn size_and_reset_events_do_not_undo_a_finished_file() {
    let mut h = H::new();
    let id = h.download(2);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 100);
    assert!(h.m.handle_progress(h.now, id, 1, 30));
    // The file in flight restarts when the remote changes...
    assert!(h.m.handle_file_reset(h.now, id, 1));
    assert_eq!(h.job(id).file_progress(1).unwrap().bytes_transferred, 0);
    // ...a finished one is not redone.
    assert!(!h.m.handle_file_reset(h.now, id, 0));
    assert!(!h.m.handle_file_size(h.now, id, 0, 10));
    let f = h.job(id).file_progress(0).unwrap();
    assert_eq!((f.bytes_total, f.bytes_transferred), (100, 100));
    h.finish_file(id, 1, 10);
    assert_eq!(h.state(id), JobState::Transferred);
    assert!(!h.m.handle_file_reset(h.now, id, 1));
    assert!(h.job(id).all_transferred());
    let a = h.alice.clone();
    assert_eq!(h.m.complete(h.now, &a, id), Ok(Hresult::S_OK));
}

#[test]
fn lowering_a_running_foreground_job_keeps_one_background_job_running() {
    let mut h = H::new();
    let a = h.alice.clone();
    let fg = h.download(1);
    h.m.set_priority(h.now, &a, fg, JobPriority::Foreground)
        .unwrap();
    h.resume(fg);
    let bg = h.download(1);
    h.resume(bg);
    assert_eq!(
        (h.state(fg), h.state(bg)),
        (JobState::Connecting, JobState::Connecting)
    );
    h.drain();
    // fg becomes LOW: the NORMAL job keeps the background slot.
    h.m.set_priority(h.now, &a, fg, JobPriority::Low).unwrap();
    let outs = h.drain();
    assert_rule(&outs, fg, Rule::T18, JobState::Connecting, JobState::Queued);
    assert!(outs.contains(&Output::StopTransfer { job: fg }));
    assert_eq!(h.state(bg), JobState::Connecting);
    h.m.check_invariants().unwrap();
    // Made HIGH instead, it takes the slot from the NORMAL job.
    h.m.set_priority(h.now, &a, fg, JobPriority::Foreground)
        .unwrap();
    assert_eq!(h.state(fg), JobState::Connecting);
    h.m.set_priority(h.now, &a, fg, JobPriority::High).unwrap();
    assert_eq!(
        (h.state(fg), h.state(bg)),
        (JobState::Connecting, JobState::Queued)
    );
    h.m.check_invariants().unwrap();
}

#[test]
fn policy_blocked_job_made_foreground_runs_at_once() {
    let mut p = Policy::default();
    p.bandwidth_windows.push(BandwidthWindow {
        start_secs: 0,
        end_secs: 3600,
        limit_bytes_per_sec: 0,
    });
    let mut h = H::with_policy(p);
    let a = h.alice.clone();
    let id = h.download(1);
    h.resume(id);
    assert_eq!(h.state(id), TransientError);
    h.drain();
    // Foreground jobs are never throttled by MaxInternetBandwidth [GP] [NETBW].
    h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
        .unwrap();
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X1, TransientError, Queued);
    assert_eq!(h.state(id), Connecting);
}

#[test]
fn times_near_the_end_of_the_clock_do_not_panic() {
    let mut p = Policy::default();
    p.bandwidth_windows.push(BandwidthWindow {
        start_secs: 0,
        end_secs: 3600,
        limit_bytes_per_sec: 0,
    });
    let mut h = H::with_policy(p);
    let a = h.alice.clone();
    let id = h.download(1);
    let late = Time(u64::MAX - 1000);
    h.m.set_priority(late, &a, id, JobPriority::Foreground)
        .unwrap();
    h.m.resume(late, &a, id).unwrap();
    assert!(h.m.handle_connected(late, id));
    h.m.handle_transfer_error(late, id, TransferError::http(503, FileRef::File(0)));
    let _ = h.m.poll_timeout();
    h.m.handle_timeout(Time(u64::MAX));
    let _ = h.m.poll_timeout();
    h.m.check_invariants().unwrap();
}

#[test]
fn handle_timeout_leaves_nothing_due_after_an_inactivity_cancel_of_an_upload() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.upload(JobType::Upload);
    h.m.set_no_progress_timeout(h.now, &a, id, 0).unwrap();
    h.resume(id); // the upload session exists from here on
    h.drain();
    let t = Time::from_secs(90 * DAY);
    assert_eq!(h.m.poll_timeout(), Some(t));
    h.m.handle_timeout(t);
    let outs = h.drain();
    assert!(outs.contains(&Output::CancelUploadSession { job: id }));
    // The cancel window is min(24 h, NoProgressTimeout = 0): over at once.
    assert!(outs.contains(&Output::JobRemoved { job: id }), "{outs:#?}");
    assert!(h.m.poll_timeout().is_none_or(|n| n > t));
}

#[test]
fn a_job_started_with_its_download_time_used_up_errors_in_the_same_handle_timeout() {
    let mut h = H::new();
    let a = h.alice.clone();
    let x = h.download(1);
    let y = h.download(1);
    h.resume(x);
    h.advance_secs(1000); // x runs alone, its slice long over
    h.resume(y); // y preempts x (T18)
    assert_eq!(h.state(x), Queued);
    h.m.set_maximum_download_time(h.now, &a, x, 1).unwrap(); // x already used 1000 s
    h.drain();
    let t = h.m.poll_timeout().unwrap();
    assert_eq!(t, Time::from_secs(1300), "y's slice ends");
    h.m.handle_timeout(t);
    let outs = h.drain();
    assert_rule(&outs, x, Rule::T13, Queued, Connecting);
    assert_rule(&outs, x, Rule::T30, Connecting, Error);
    assert!(h.m.poll_timeout().is_none_or(|n| n > t));
}

#[test]
fn policy_blocked_job_made_foreground_while_the_network_is_down_waits_for_the_network() {
    let mut p = Policy::default();
    p.bandwidth_windows.push(BandwidthWindow {
        start_secs: 0,
        end_secs: 3600,
        limit_bytes_per_sec: 0,
    });
    let mut h = H::with_policy(p);
    let a = h.alice.clone();
    let id = h.download(1);
    h.resume(id);
    assert_eq!(
        h.job(id).get_error().unwrap().code,
        Hresult::BG_E_BLOCKED_BY_POLICY
    );
    h.m.handle_network_change(h.now, false);
    h.m.set_priority(h.now, &a, id, JobPriority::Foreground)
        .unwrap();
    // No longer throttled by policy; blocked by the network instead.
    assert_eq!(h.state(id), TransientError);
    assert_eq!(
        h.job(id).get_error().unwrap().code,
        Hresult::BG_E_NETWORK_DISCONNECTED
    );
    h.m.handle_network_change(h.now, true);
    assert_eq!(h.state(id), Connecting);
}

/// A callback's answer and a command line's end are not interchangeable: a
/// delivery answered through the wrong method is refused (false) and stays
/// outstanding, so a driver's mix-up can never drop a JobError (found by
/// the 1,000,000-case property run).
#[test]
fn callback_and_command_results_only_answer_their_own_deliveries() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 7);
    h.drive_to(id, Error);
    let n = notify_id(&h.log, NotifyKind::JobError);
    assert!(!h.m.handle_command_result(h.now, n, CommandOutcome::Exited(1)));
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 1);
    assert!(h.m.handle_callback_result(h.now, n, Hresult::S_OK));
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 0);

    let id = h.download(1);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/n"), None)
        .unwrap();
    h.drive_to(id, Transferred);
    let c = commands(&h.log)[0].0;
    assert!(!h.m.handle_callback_result(h.now, c, Hresult::S_OK));
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 1);
    assert!(h.m.handle_command_result(h.now, c, CommandOutcome::Exited(0)));
    assert_eq!(h.m.outstanding_notifications(&h.alice.user), 0);
}

#[test]
fn next_deadline_names_the_timer_that_fires_and_matches_poll_timeout() {
    let mut h = H::new();
    let a = h.alice.clone();
    let id = h.download(1);
    // Untouched: the inactivity cancel (T31).
    let (at, why) = h.m.next_deadline(id).unwrap();
    assert_eq!(why, TimerKind::Inactivity);
    assert_eq!(
        at,
        h.now.saturating_add(h.m.policy().job_inactivity_timeout)
    );
    h.m.set_minimum_retry_delay(h.now, &a, id, 10).unwrap();
    h.m.set_no_progress_timeout(h.now, &a, id, 100).unwrap();
    h.drive_to(id, TransientError);
    assert_eq!(
        h.m.next_deadline(id),
        Some((Time::from_secs(10), TimerKind::Retry))
    );
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(10)));
    // A failed callback: the re-call is the next thing, with its attempt.
    let id3 = h.download(1);
    h.register(id3, 1);
    h.m.set_minimum_retry_delay(h.now, &a, id3, 42).unwrap();
    h.drive_to(id3, Error);
    let out = h.m.outstanding_of(id3);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].kind, out[0].attempt), (NotifyKind::JobError, 1));
    assert_eq!(out[0].since, h.now);
    let n = notify_id(&h.log, NotifyKind::JobError);
    h.m.handle_callback_result(h.now, n, Hresult::E_FAIL);
    h.drain();
    assert!(h.m.outstanding_of(id3).is_empty());
    assert_eq!(
        h.m.next_deadline(id3),
        Some((
            h.now.saturating_add(Duration::from_secs(42)),
            TimerKind::NotificationRetry
        ))
    );
    h.advance_secs(42);
    let out = h.m.outstanding_of(id3);
    assert_eq!((out[0].kind, out[0].attempt), (NotifyKind::JobError, 2));
    assert_eq!(h.m.next_deadline(JobId(uuid::Uuid::nil())), None);
}
