//! Downloads: HEAD + ranged GETs into a `BIT*.tmp`, published by Complete.

use bitsim_model::{Hresult, JobState};

use super::common::*;

async fn round_trip(len: u64) {
    let env = Env::new().await;
    let src = env.root.join("f.bin");
    make_file(&src, len, 1);
    let dest = env.local.join("f.bin");
    let (mut d, rec) = driver(rt_config());
    let job = d.download(&me(), &env.url("/f.bin"), &dest).unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert!(!dest.exists(), "nothing is published before Complete");
    assert_eq!(
        temps(&env.local).len(),
        1,
        "one BIT*.tmp beside the destination"
    );
    assert_eq!(d.complete(&me(), job).unwrap(), Hresult::S_OK);
    assert_eq!(state(d.manager(), job), Some(JobState::Acknowledged));
    assert!(temps(&env.local).is_empty());
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), len);
    assert_eq!(sha(&dest), sha(&src));
    assert_eq!(
        rec.states(),
        [
            JobState::Queued,
            JobState::Connecting,
            JobState::Transferring,
            JobState::Transferred,
            JobState::Acknowledged
        ]
    );
}

#[tokio::test]
async fn zero_bytes() {
    round_trip(0).await;
}

#[tokio::test]
async fn one_byte() {
    round_trip(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib() {
    round_trip(100 << 20).await;
}

#[tokio::test]
async fn cancel_deletes_the_temp_file() {
    let env = Env::new().await;
    make_file(&env.root.join("slow.bin"), 4 << 20, 2);
    env.fault(r#"{"path":"/slow.bin","method":"GET","bandwidth_bps":262144}"#)
        .await;
    let (mut d, rec) = driver(rt_config());
    let dest = env.local.join("slow.bin");
    let job = d.download(&me(), &env.url("/slow.bin"), &dest).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() > 0).await;
    assert_eq!(temps(&env.local).len(), 1);
    d.call(|m, now| m.cancel(now, &me(), job)).unwrap();
    assert_eq!(state(d.manager(), job), Some(JobState::Cancelled));
    assert!(temps(&env.local).is_empty(), "Cancel deletes the temp file");
    assert!(!dest.exists());
}

/// A JobTransferred callback that holds the call for a second.
struct Slow;

impl bitsim::Callback for Slow {
    fn job_transferred(&mut self, _job: &mut bitsim::JobHandle<'_>) -> bitsim::CallbackResult {
        bitsim::CallbackResult::ok().after(std::time::Duration::from_secs(1))
    }
}

#[tokio::test]
async fn a_held_callback_keeps_its_notification_slot_busy() {
    let env = Env::new().await;
    make_file(&env.root.join("h.bin"), 1000, 12);
    let (mut d, rec) = driver(rt_config());
    let job = d
        .download(&me(), &env.url("/h.bin"), env.local.join("h.bin"))
        .unwrap();
    d.register_callback(&me(), job, Box::new(Slow)).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.callbacks("JobTransferred") > 0)
        .await;
    let user = bitsim_model::UserId::new("tester");
    assert_eq!(
        d.manager().outstanding_notifications(&user),
        1,
        "still in the call"
    );
    assert!(
        d.run_until(WAIT, |m| m.outstanding_notifications(&user) == 0)
            .await
    );
    assert_eq!(rec.callbacks("JobTransferred"), 1, "S_OK: not called again");
}
