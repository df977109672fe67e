//! One test per row of the transition table (T1-T34, X1-X4): state, return
//! code, and the `Output` effects, including the `Transition` naming the rule.

use crate::support::*;
use JobState::*;
use bitsim_model::*;
use std::time::Duration;

#[test]
fn t01_create_job_is_suspended_with_documented_defaults() {
    let mut h = H::new();
    let id = h.fresh_id();
    let alice = h.alice.clone();
    let got =
        h.m.create_job(h.now, &alice, id, "name", JobType::Download)
            .unwrap();
    assert_eq!(got, id);
    let outs = h.drain();
    assert_eq!(transitions(&outs), vec![(Rule::T1, Suspended, Suspended)]);
    let j = h.job(id);
    assert_eq!(j.state, Suspended);
    assert_eq!(j.notify_flags, NotifyFlags(0x3));
    assert_eq!(j.priority, JobPriority::Normal);
    assert_eq!(j.minimum_retry_delay, Duration::from_secs(600));
    assert_eq!(j.no_progress_timeout, Duration::from_secs(1_209_600));
    assert_eq!(j.owner, alice.user);
    assert_eq!(j.display_name, "name");
    assert!(j.notify_interface.is_none());
    let p = j.progress();
    assert_eq!(
        (
            p.bytes_total,
            p.bytes_transferred,
            p.files_total,
            p.files_transferred
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn t02_resume_with_a_file_queues_the_job() {
    let mut h = H::new();
    let id = h.download(1);
    h.m.handle_logoff(h.now, &h.alice.user.clone());
    let alice = h.alice.clone();
    assert_eq!(h.m.resume(h.now, &alice, id), Ok(()));
    let outs = h.drain();
    assert_eq!(h.state(id), Queued);
    assert_rule(&outs, id, Rule::T2, Suspended, Queued);
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::StartTransfer { .. }))
    );
}

#[test]
fn t03_resume_without_files_returns_bg_e_empty_and_stays_suspended() {
    let mut h = H::new();
    let id = h.download(0);
    let alice = h.alice.clone();
    assert_eq!(code(h.m.resume(h.now, &alice, id)), Hresult::BG_E_EMPTY);
    let outs = h.drain();
    assert_eq!(h.state(id), Suspended);
    assert_eq!(rules(&outs), vec![Rule::T3]);
}

#[test]
fn t04_resume_from_error_queues_the_job_and_clears_the_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Error);
    assert!(h.job(id).get_error().is_ok());
    h.resume(id);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T4, Error, Queued);
    assert_rule(&outs, id, Rule::T13, Queued, Connecting);
    assert_eq!(h.state(id), Connecting);
    assert_eq!(
        code(h.job(id).get_error()),
        Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE
    );
}

#[test]
fn t05_resume_from_transient_error_retries_at_once() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, TransientError);
    h.resume(id);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T5, TransientError, Queued);
    assert_rule(&outs, id, Rule::T13, Queued, Connecting);
    assert!(outs.iter().any(
        |o| matches!(o, Output::StartTransfer { job, file: FileRef::File(0), .. } if *job == id)
    ));
    assert_eq!(h.now, Time::ZERO, "no retry delay was waited for");
}

#[test]
fn t06_resume_of_an_active_job_keeps_its_state() {
    let mut h = H::new();
    for target in [Connecting, Transferring] {
        let id = h.download(1);
        h.drive_to(id, target);
        let alice = h.alice.clone();
        assert_eq!(h.m.resume(h.now, &alice, id), Ok(()));
        let outs = h.drain();
        assert_eq!(h.state(id), target);
        assert_rule(&outs, id, Rule::T6, target, target);
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, Output::StopTransfer { .. }))
        );
        let c = h.owner(id);
        h.m.cancel(h.now, &c, id).unwrap();
        h.drain();
    }
    // QUEUED too.
    let id = h.download(1);
    h.drive_to(id, Queued);
    h.resume(id);
    assert_rule(&h.drain(), id, Rule::T6, Queued, Queued);
    assert_eq!(h.state(id), Queued);
}

#[test]
fn t07_resume_after_adding_files_to_a_transferred_job_queues_it() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferred);
    let alice = h.alice.clone();
    h.add_as(&alice, id, 1);
    assert_eq!(h.state(id), Transferred);
    h.resume(id);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T7, Transferred, Queued);
    assert_eq!(h.state(id), Connecting);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::StartTransfer {
            file: FileRef::File(1),
            offset: 0,
            ..
        }
    )));
}

#[test]
fn t08_suspend_stops_transfers_and_suspends() {
    let mut h = H::new();
    for from in [Queued, Connecting, Transferring, TransientError] {
        let id = h.download(1);
        h.drive_to(id, from);
        let c = h.owner(id);
        assert_eq!(h.m.suspend(h.now, &c, id), Ok(()));
        let outs = h.drain();
        assert_eq!(h.state(id), Suspended);
        assert_rule(&outs, id, Rule::T8, from, Suspended);
        assert_eq!(
            count(
                &outs,
                |o| matches!(o, Output::StopTransfer { job } if *job == id)
            ),
            usize::from(from.is_active()),
            "StopTransfer from {from}"
        );
        h.m.handle_logon(h.now, &c.user);
        h.m.cancel(h.now, &c, id).unwrap();
        h.drain();
    }
}

#[test]
fn t09_cancel_deletes_temp_files_and_removes_the_job() {
    let mut h = H::new();
    let id = h.download(2);
    h.drive_to(id, Transferring);
    assert!(h.m.handle_progress(h.now, id, 0, 10));
    h.drain();
    let alice = h.alice.clone();
    assert_eq!(h.m.cancel(h.now, &alice, id), Ok(Hresult::S_OK));
    let outs = h.drain();
    assert_eq!(h.state(id), Cancelled);
    assert_rule(&outs, id, Rule::T9, Transferring, Cancelled);
    let pos = |f: &dyn Fn(&Output) -> bool| outs.iter().position(f).expect("output present");
    let stop = pos(&|o| matches!(o, Output::StopTransfer { .. }));
    let del = pos(&|o| {
        matches!(
            o,
            Output::DeleteTempFile {
                file: FileRef::File(0),
                ..
            }
        )
    });
    let removed = pos(&|o| matches!(o, Output::JobRemoved { job } if *job == id));
    assert!(stop < del && del < removed);
    // File 1 never started: no temp file to delete.
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::DeleteTempFile {
            file: FileRef::File(1),
            ..
        }
    )));
    assert_eq!(code(h.m.get_job(&alice, id)), Hresult::BG_E_NOT_FOUND);
}

#[test]
fn t10_complete_of_a_download_publishes_and_acknowledges() {
    let mut h = H::new();
    let id = h.download(2);
    h.drive_to(id, Transferred);
    let alice = h.alice.clone();
    assert_eq!(h.m.complete(h.now, &alice, id), Ok(Hresult::S_OK));
    let outs = h.drain();
    assert_eq!(h.state(id), Acknowledged);
    assert_rule(&outs, id, Rule::T10, Transferred, Acknowledged);
    assert_eq!(
        count(&outs, |o| matches!(o, Output::FilePublished { .. })),
        2
    );
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::JobRemoved { job } if *job == id))
    );
    assert!(h.job(id).files.iter().all(|f| f.completed));
}

#[test]
fn t11_complete_whose_rename_fails_returns_the_error_and_keeps_state() {
    let mut h = H::new();
    let id = h.download(2);
    h.drive_to(id, Transferred);
    let alice = h.alice.clone();
    let denied = Hresult::E_ACCESSDENIED;
    let r = h.m.complete_with(h.now, &alice, id, &mut |_, f| {
        if f == FileRef::File(1) {
            Err(denied)
        } else {
            Ok(())
        }
    });
    assert_eq!(code(r), denied);
    let outs = h.drain();
    assert_eq!(h.state(id), Transferred);
    assert_rule(&outs, id, Rule::T11, Transferred, Transferred);
    assert_eq!(rule_code(&outs, Rule::T11), Some(denied));
    // File 0 was renamed before the failure and stays visible.
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::FilePublished {
            file: FileRef::File(0),
            ..
        }
    )));
    assert!(h.job(id).files[0].completed && !h.job(id).files[1].completed);
    // A later Complete publishes the rest.
    assert_eq!(h.m.complete(h.now, &alice, id), Ok(Hresult::S_OK));
    let outs = h.drain();
    assert_eq!(
        count(&outs, |o| matches!(o, Output::FilePublished { .. })),
        1
    );
    assert_eq!(h.state(id), Acknowledged);
}

#[test]
fn t12_complete_of_an_upload_only_from_transferred() {
    let mut h = H::new();
    for ty in [JobType::Upload, JobType::UploadReply] {
        let id = h.upload(ty);
        let alice = h.alice.clone();
        assert_eq!(
            code(h.m.complete(h.now, &alice, id)),
            Hresult::BG_E_INVALID_STATE
        );
        h.drive_to(id, Transferring);
        assert_eq!(
            code(h.m.complete(h.now, &alice, id)),
            Hresult::BG_E_INVALID_STATE
        );
        assert_eq!(h.state(id), Transferring);
        h.finish_file(id, 0, 100);
        if ty == JobType::UploadReply {
            assert!(h.m.handle_reply_done(h.now, id, None));
        }
        assert_eq!(h.state(id), Transferred);
        h.drain();
        assert_eq!(h.m.complete(h.now, &alice, id), Ok(Hresult::S_OK));
        let outs = h.drain();
        assert_eq!(h.state(id), Acknowledged);
        assert_rule(&outs, id, Rule::T12, Transferred, Acknowledged);
        assert_eq!(
            count(&outs, |o| matches!(
                o,
                Output::FilePublished {
                    file: FileRef::Reply,
                    ..
                }
            )),
            usize::from(ty == JobType::UploadReply)
        );
    }
}

#[test]
fn t13_scheduler_turn_moves_queued_to_connecting_and_starts_file_0() {
    let mut h = H::new();
    let id = h.download(2);
    h.resume(id);
    let outs = h.drain();
    assert_eq!(rules(&outs), vec![Rule::T2, Rule::T13]);
    assert_rule(&outs, id, Rule::T13, Queued, Connecting);
    assert!(outs.contains(&Output::StartTransfer {
        job: id,
        file: FileRef::File(0),
        offset: 0
    }));
    // Not while the owner is logged off (T13's guard).
    let bob = h.bob.clone();
    let id2 = h.download_as(&bob, 1);
    h.m.set_priority(h.now, &bob, id2, JobPriority::Foreground)
        .unwrap();
    h.m.handle_logoff(h.now, &bob.user);
    h.resume(id2);
    assert_eq!(h.state(id2), Queued);
    h.m.handle_logon(h.now, &bob.user);
    assert_rule(&h.drain(), id2, Rule::T13, Queued, Connecting);
}

#[test]
fn t14_connection_established_moves_to_transferring() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Connecting);
    assert!(h.m.handle_connected(h.now, id));
    assert_eq!(rules(&h.drain()), vec![Rule::T14]);
    assert_eq!(h.state(id), Transferring);
    // Ignored unless CONNECTING.
    assert!(!h.m.handle_connected(h.now, id));
    assert!(h.drain().is_empty());
}

#[test]
fn t15_connection_failure_is_transient_and_counts_an_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Connecting);
    h.http_error(id, 503);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T15, Connecting, TransientError);
    assert_eq!(rule_code(&outs, Rule::T15), Some(Hresult::http(503)));
    assert_eq!(h.state(id), TransientError);
    assert_eq!(h.job(id).error_count, 1);
    assert!(outs.contains(&Output::TimerArmed {
        job: id,
        timer: TimerKind::Retry,
        at: Time::from_secs(600)
    }));
    assert!(!kinds(&outs).contains(&NotifyKind::JobError));
    let e = h.job(id).get_error().unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteFile, Hresult::http(503))
    );
}

#[test]
fn t16_bytes_arriving_grow_progress_and_raise_job_modification() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, Transferring);
    h.now = Time::from_secs(10);
    assert!(h.m.handle_file_size(h.now, id, 0, 100));
    assert!(h.m.handle_progress(h.now, id, 0, 40));
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T16, Transferring, Transferring);
    assert_eq!(h.job(id).progress().bytes_transferred, 40);
    assert_eq!(h.job(id).progress().bytes_total, 100);
    assert!(kinds(&outs).contains(&NotifyKind::JobModification));
    assert_eq!(h.job(id).times.modification_time, h.now);
    // Counts never go backwards.
    assert!(!h.m.handle_progress(h.now, id, 0, 30));
    assert_eq!(h.job(id).progress().bytes_transferred, 40);
}

#[test]
fn t17_one_file_finished_raises_file_transferred_and_starts_the_next() {
    let mut h = H::new();
    let id = h.download(2);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x10);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 100);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T17, Transferring, Transferring);
    assert_eq!(h.state(id), Transferring);
    assert!(kinds(&outs).contains(&NotifyKind::FileTransferred(FileRef::File(0))));
    assert!(outs.contains(&Output::StartTransfer {
        job: id,
        file: FileRef::File(1),
        offset: 0
    }));
    assert_eq!(h.job(id).progress().files_transferred, 1);
}

#[test]
fn t18_time_slice_end_and_preemption_requeue_the_running_job() {
    let mut h = H::new();
    let a = h.download(1);
    let b = h.download(1);
    h.resume(a);
    h.resume(b);
    h.drain();
    assert_eq!((h.state(a), h.state(b)), (Connecting, Queued));
    // Round robin: after the 5-minute slice, b gets its turn.
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(300)));
    h.advance_secs(300);
    let outs = h.drain();
    assert_rule(&outs, a, Rule::T18, Connecting, Queued);
    assert_rule(&outs, b, Rule::T13, Queued, Connecting);
    assert!(outs.contains(&Output::StopTransfer { job: a }));
    // A higher priority preempts at once.
    let c = h.download(1);
    let alice = h.alice.clone();
    h.m.set_priority(h.now, &alice, c, JobPriority::High)
        .unwrap();
    h.resume(c);
    let outs = h.drain();
    assert_rule(&outs, b, Rule::T18, Connecting, Queued);
    assert_rule(&outs, c, Rule::T13, Queued, Connecting);
}

#[test]
fn t19_owner_logoff_requeues_active_jobs() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferring);
    let user = h.alice.user.clone();
    h.m.handle_logoff(h.now, &user);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T19, Transferring, Queued);
    assert!(outs.contains(&Output::StopTransfer { job: id }));
    assert_eq!(h.state(id), Queued);
    h.advance_secs(3600);
    assert_eq!(h.state(id), Queued, "waits while the owner is away");
    h.m.handle_logon(h.now, &user);
    assert_rule(&h.drain(), id, Rule::T13, Queued, Connecting);
}

#[test]
fn t20_all_files_done_enters_transferred_and_raises_job_transferred_only() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, Transferring);
    assert!(h.m.handle_file_size(h.now, id, 0, 100));
    assert!(h.m.handle_progress(h.now, id, 0, 100));
    h.advance_secs(5); // flush JobModifications raised so far
    h.drain();
    assert!(h.m.handle_file_done(h.now, id, 0));
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T20, Transferring, Transferred);
    assert_eq!(h.state(id), Transferred);
    assert_eq!(h.job(id).times.transfer_completion_time, Some(h.now));
    assert!(kinds(&outs).contains(&NotifyKind::JobTransferred));
    // No JobModification for entering TRANSFERRED, now or later.
    h.advance_secs(10);
    let all = [outs, h.drain()].concat();
    assert!(
        !kinds(&all).contains(&NotifyKind::JobModification),
        "{all:#?}"
    );
}

#[test]
fn t21_recoverable_error_while_transferring_is_transient_without_job_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Transferring);
    h.http_error(id, 503);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T21, Transferring, TransientError);
    assert_eq!(h.job(id).error_count, 1);
    assert!(kinds(&outs).is_empty());
    assert!(outs.contains(&Output::TimerArmed {
        job: id,
        timer: TimerKind::Retry,
        at: Time::from_secs(600)
    }));
    assert!(outs.contains(&Output::TimerArmed {
        job: id,
        timer: TimerKind::NoProgress,
        at: Time::from_secs(1_209_600)
    }));
}

#[test]
fn t22_unrecoverable_error_enters_error_with_job_error_and_no_modification() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.flags(id, 0x3 | 0x8);
    h.drive_to(id, Transferring);
    h.advance_secs(10); // flush JobModifications raised so far
    h.drain();
    h.http_error(id, 404);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T22, Transferring, Error);
    assert_eq!(rule_code(&outs, Rule::T22), Some(Hresult::http(404)));
    assert_eq!(h.job(id).error_count, 1);
    assert_eq!(kinds(&outs), vec![NotifyKind::JobError]);
    let e = h.job(id).get_error().unwrap();
    assert_eq!(e.get_file(), Ok(FileRef::File(0)));
    assert_eq!(e.get_protocol(), Ok("http"));
}

#[test]
fn t23_retry_delay_elapsed_requeues_the_job() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, TransientError);
    h.advance_secs(599);
    assert_eq!(h.state(id), TransientError);
    h.drain();
    h.advance_secs(1);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T23, TransientError, Queued);
    assert_rule(&outs, id, Rule::T13, Queued, Connecting);
    // A failed retry counts as another error.
    h.http_error(id, 503);
    assert_eq!(h.job(id).error_count, 2);
}

#[test]
fn t24_no_progress_timeout_turns_transient_into_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let alice = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &alice, id, 3000)
        .unwrap();
    h.m.set_no_progress_timeout(h.now, &alice, id, 3600)
        .unwrap();
    h.drive_to(id, TransientError);
    h.advance_secs(3000);
    assert_eq!(h.state(id), Connecting);
    h.http_error(id, 503); // T15 at 3000 s, next retry would be at 6000 s
    h.drain();
    h.advance_secs(599);
    assert_eq!(h.state(id), TransientError);
    h.advance_secs(1);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T24, TransientError, Error);
    assert_eq!(h.state(id), Error);
    assert_eq!(h.now, Time::from_secs(3600));
    assert!(kinds(&outs).contains(&NotifyKind::JobError));
    assert!(h.job(id).get_error().is_ok());
}

#[test]
fn t25_retry_delay_longer_than_no_progress_timeout_means_no_retry() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let alice = h.alice.clone();
    h.m.set_minimum_retry_delay(h.now, &alice, id, 1000)
        .unwrap();
    h.m.set_no_progress_timeout(h.now, &alice, id, 500).unwrap();
    h.drive_to(id, Transferring);
    h.http_error(id, 503);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T21, Transferring, TransientError);
    assert_rule(&outs, id, Rule::T25, TransientError, Error);
    assert_eq!(h.state(id), Error);
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::TimerArmed {
            timer: TimerKind::Retry,
            ..
        }
    )));
    assert!(kinds(&outs).contains(&NotifyKind::JobError));
}

#[test]
fn t26_no_progress_timeout_zero_makes_every_error_fatal() {
    let mut h = H::new();
    for from in [Connecting, Transferring] {
        let id = h.download(1);
        let alice = h.alice.clone();
        h.m.set_no_progress_timeout(h.now, &alice, id, 0).unwrap();
        h.drive_to(id, from);
        h.http_error(id, 503);
        let outs = h.drain();
        assert_rule(&outs, id, Rule::T26, from, Error);
        assert_eq!(rule_code(&outs, Rule::T26), Some(Hresult::http(503)));
        assert_eq!(h.job(id).error_count, 1);
    }
}

#[test]
fn t27_network_lost_puts_queued_and_active_jobs_in_transient_error() {
    let mut h = H::new();
    let q = h.download(1);
    h.drive_to(q, Queued); // alice logged off
    let t = h.download_as(&h.bob.clone(), 1);
    h.drive_to(t, Transferring);
    let s = h.download(1);
    h.m.handle_network_change(h.now, false);
    let outs = h.drain();
    assert_rule(&outs, q, Rule::T27, Queued, TransientError);
    assert_rule(&outs, t, Rule::T27, Transferring, TransientError);
    assert!(outs.contains(&Output::StopTransfer { job: t }));
    assert_eq!(h.state(s), Suspended);
    for id in [q, t] {
        assert_eq!(
            h.job(id).get_error().unwrap().code,
            Hresult::BG_E_NETWORK_DISCONNECTED
        );
        assert_eq!(h.job(id).error_count, 0);
    }
    assert_eq!(
        rule_code(&outs, Rule::T27),
        Some(Hresult::BG_E_NETWORK_DISCONNECTED)
    );
    // Not retried on the timer: the next deadline is inactivity, 90 days out.
    assert_eq!(h.m.poll_timeout(), Some(Time::from_secs(90 * DAY)));
}

#[test]
fn t28_network_restored_requeues_every_transient_error_job() {
    let mut h = H::new();
    let a = h.download(1);
    h.drive_to(a, TransientError); // a 503, retry timer armed
    let b = h.download_as(&h.bob.clone(), 1);
    h.drive_to(b, Transferring);
    h.m.handle_network_change(h.now, false);
    h.drain();
    h.m.handle_network_change(h.now, true);
    let outs = h.drain();
    assert_rule(&outs, a, Rule::T28, TransientError, Queued);
    assert_rule(&outs, b, Rule::T28, TransientError, Queued);
    assert!(rules(&outs).contains(&Rule::T13));
    assert!(h.job(a).error.is_none() && h.job(b).error.is_none());
}

#[test]
fn t29_bandwidth_limit_zero_blocks_background_jobs_only() {
    let mut h = H::with_policy(blocking_policy());
    let bg = h.download(1);
    let fg = h.download(1);
    let alice = h.alice.clone();
    h.m.set_priority(h.now, &alice, fg, JobPriority::Foreground)
        .unwrap();
    h.resume(bg);
    h.resume(fg);
    let outs = h.drain();
    assert_rule(&outs, bg, Rule::T29, Queued, TransientError);
    assert_eq!(
        h.job(bg).get_error().unwrap().code,
        Hresult::BG_E_BLOCKED_BY_POLICY
    );
    assert_eq!(h.job(bg).error_count, 0);
    assert_eq!(h.state(fg), Connecting);
    assert_eq!(
        h.m.poll_timeout(),
        Some(Time::from_secs(3600)),
        "no retry timer, only the window's end"
    );
}

#[test]
fn t30_maximum_download_time_exceeded_is_an_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    let alice = h.alice.clone();
    h.m.set_maximum_download_time(h.now, &alice, id, 100)
        .unwrap();
    h.drive_to(id, Transferring);
    h.advance_secs(99);
    assert_eq!(h.state(id), Transferring);
    h.advance_secs(1);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T30, Transferring, Error);
    assert_eq!(
        rule_code(&outs, Rule::T30),
        Some(Hresult::BG_E_MAXDOWNLOAD_TIMEOUT)
    );
    assert!(outs.contains(&Output::StopTransfer { job: id }));
    assert!(kinds(&outs).contains(&NotifyKind::JobError));
}

#[test]
fn t31_inactivity_timeout_cancels_and_removes_the_job() {
    let mut h = H::new();
    let id = h.download(2);
    h.drive_to(id, Transferring);
    h.finish_file(id, 0, 100);
    h.http_error(id, 404); // ERROR: nothing happens until the app acts
    h.drain();
    let last = h.now;
    h.advance(Duration::from_secs(90 * DAY) - Duration::from_millis(1));
    assert_eq!(h.state(id), Error);
    h.advance(Duration::from_millis(1));
    let outs = h.drain();
    assert_eq!(h.now, last.saturating_add(Duration::from_secs(90 * DAY)));
    assert_rule(&outs, id, Rule::T31, Error, Cancelled);
    assert!(outs.contains(&Output::DeleteTempFile {
        job: id,
        file: FileRef::File(0)
    }));
    assert!(outs.contains(&Output::DeleteTempFile {
        job: id,
        file: FileRef::File(1)
    }));
    assert!(outs.contains(&Output::JobRemoved { job: id }));
    assert_eq!(
        code(h.m.get_job(&h.alice.clone(), id)),
        Hresult::BG_E_NOT_FOUND
    );
}

#[test]
fn t32_validation_failure_puts_the_job_in_error() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Transferred);
    let alice = h.alice.clone();
    assert_eq!(
        h.m.set_validation_state(h.now, &alice, id, 0, false),
        Ok(())
    );
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T32, Transferred, Error);
    assert_eq!(
        rule_code(&outs, Rule::T32),
        Some(Hresult::BG_E_VALIDATION_FAILED)
    );
    assert!(kinds(&outs).contains(&NotifyKind::JobError));
    assert!(!h.job(id).files[0].transferred);
    // Valid content changes nothing.
    let id2 = h.download(1);
    h.drive_to(id2, Transferred);
    h.m.set_validation_state(h.now, &alice, id2, 0, true)
        .unwrap();
    assert_eq!(h.state(id2), Transferred);
    assert!(!rules(&h.drain()).contains(&Rule::T32));
}

#[test]
fn t33_take_ownership_changes_owner_and_removes_the_command_line() {
    let mut h = H::new();
    let id = h.download(1);
    let alice = h.alice.clone();
    h.m.set_notify_cmd_line(h.now, &alice, id, Some("/bin/notify"), Some("x"))
        .unwrap();
    h.drive_to(id, Transferring);
    let admin = h.admin.clone();
    assert_eq!(h.m.take_ownership(h.now, &admin, id), Ok(()));
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T33, Transferring, Transferring);
    assert_eq!(h.job(id).owner, admin.user);
    assert!(h.job(id).notify_cmd_line.is_none());
    assert_eq!(
        code(h.m.take_ownership(h.now, &alice, id)),
        Hresult::E_ACCESSDENIED
    );
}

#[test]
fn t34_set_remote_name_keeps_state_and_applies_to_the_next_transfer() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferring);
    let alice = h.alice.clone();
    assert_eq!(
        h.m.set_remote_name(h.now, &alice, id, 0, "https://example.org/new"),
        Ok(())
    );
    let outs = h.drain();
    assert_rule(&outs, id, Rule::T34, Transferring, Transferring);
    assert_eq!(h.job(id).files[0].remote_name, "https://example.org/new");
    let up = h.upload(JobType::Upload);
    assert_eq!(
        code(h.m.set_remote_name(h.now, &alice, up, 0, "https://example.org/u")),
        Hresult::E_NOTIMPL
    );
}

#[test]
fn x1_bandwidth_window_end_requeues_blocked_jobs() {
    let mut h = H::with_policy(blocking_policy());
    let id = h.download(1);
    h.resume(id);
    h.drain();
    assert_eq!(h.state(id), TransientError);
    h.advance_secs(3600);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X1, TransientError, Queued);
    assert_rule(&outs, id, Rule::T13, Queued, Connecting);
}

#[test]
fn x2_service_restart_requeues_active_jobs_and_drops_callbacks() {
    let mut h = H::new();
    let id = h.download(1);
    h.register(id, 1);
    h.drive_to(id, Transferring);
    h.m.handle_service_restart(h.now);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X2, Transferring, Queued);
    assert!(h.job(id).notify_interface.is_none());
    assert_eq!(h.state(id), Connecting, "the scheduler restarts it");
}

#[test]
fn x3_cancelled_upload_lingers_until_the_server_acknowledges() {
    let mut h = H::new();
    let id = h.upload(JobType::Upload);
    h.drive_to(id, Transferring);
    let alice = h.alice.clone();
    h.m.cancel(h.now, &alice, id).unwrap();
    let outs = h.drain();
    assert!(outs.contains(&Output::CancelUploadSession { job: id }));
    assert!(!outs.iter().any(|o| matches!(o, Output::JobRemoved { .. })));
    assert_eq!(h.state(id), Cancelled);
    assert!(h.m.enum_jobs(&alice, 0).unwrap().is_empty());
    assert!(h.m.handle_upload_cancelled(h.now, id));
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X3, Cancelled, Cancelled);
    assert!(outs.contains(&Output::JobRemoved { job: id }));
    // Or the 24 h window passes.
    let id = h.upload(JobType::Upload);
    h.drive_to(id, Transferring);
    h.m.cancel(h.now, &alice, id).unwrap();
    let t0 = h.now;
    h.drain();
    h.advance_secs(DAY);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X3, Cancelled, Cancelled);
    assert!(outs.contains(&Output::JobRemoved { job: id }));
    assert_eq!(h.now, t0.saturating_add(Duration::from_secs(DAY)));
}

#[test]
fn x4_add_file_on_an_active_job_appends_without_state_change() {
    let mut h = H::new();
    let id = h.download(1);
    h.drive_to(id, Transferring);
    let alice = h.alice.clone();
    h.add_as(&alice, id, 1);
    let outs = h.drain();
    assert_rule(&outs, id, Rule::X4, Transferring, Transferring);
    assert_eq!(h.job(id).files.len(), 2);
    assert_eq!(h.job(id).files[1].local_name, "/tmp/f1");
}

/// The timer table: `next_deadline` names the timer that fires next, at the
/// time it fires, for each job timer (T31, T23, T24, T30), and every timer
/// explains itself with sources the model lists.
#[test]
fn next_deadline_names_the_timer_that_fires_next() {
    let secs = |h: &H, s: u64| h.now.saturating_add(Duration::from_secs(s));
    let mut h = H::new();
    let unknown = h.fresh_id();
    assert_eq!(h.m.next_deadline(unknown), None, "unknown job");

    // A new job: only JobInactivityTimeout (90 days) runs.
    let idle = h.download(1);
    assert_eq!(
        h.m.next_deadline(idle),
        Some((secs(&h, 90 * DAY), TimerKind::Inactivity))
    );

    // TRANSIENT_ERROR: the retry (600 s) before the no-progress timeout.
    let mut h = H::new();
    let retry = h.download(1);
    h.drive_to(retry, TransientError);
    assert_eq!(
        h.m.next_deadline(retry),
        Some((secs(&h, 600), TimerKind::Retry))
    );
    h.advance_secs(600);
    assert_ne!(h.state(retry), TransientError, "T23 fired at its deadline");

    // After a failed retry, the no-progress timeout (counted from the first
    // transient error) comes before the next retry.
    let mut h = H::new();
    let alice = h.alice.clone();
    let stuck = h.download(1);
    h.m.set_minimum_retry_delay(h.now, &alice, stuck, 3000)
        .unwrap();
    h.m.set_no_progress_timeout(h.now, &alice, stuck, 3600)
        .unwrap();
    h.drive_to(stuck, TransientError);
    assert_eq!(
        h.m.next_deadline(stuck),
        Some((secs(&h, 3000), TimerKind::Retry))
    );
    h.advance_secs(3000);
    h.http_error(stuck, 503);
    assert_eq!(
        h.m.next_deadline(stuck),
        Some((secs(&h, 600), TimerKind::NoProgress))
    );
    h.advance_secs(600);
    assert_eq!(h.state(stuck), Error, "T24 fired at its deadline");
    assert_eq!(
        h.m.next_deadline(stuck).map(|(_, k)| k),
        Some(TimerKind::Inactivity)
    );

    // A running job with a MaximumDownloadTime.
    let mut h = H::new();
    let capped = h.download(1);
    h.m.set_maximum_download_time(h.now, &alice, capped, 50)
        .unwrap();
    h.drive_to(capped, Transferring);
    assert_eq!(
        h.m.next_deadline(capped),
        Some((secs(&h, 50), TimerKind::MaxDownloadTime))
    );
    h.advance_secs(50);
    assert_eq!(h.state(capped), Error, "T30 fired at its deadline");

    for kind in TimerKind::JOB_TIMERS
        .into_iter()
        .chain([TimerKind::NotificationRetry])
    {
        assert!(!kind.why().is_empty());
        assert!(!kind.sources().is_empty(), "{kind:?} cites no source");
        for tag in kind.sources() {
            assert!(
                sources::source_url(tag).is_some(),
                "{kind:?} cites {tag}, which the model does not list"
            );
        }
    }
}
