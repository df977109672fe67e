//! The queue survives a process restart, like BITS across a reboot.

use bitsim_model::JobState;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_driver_resumes_from_the_partial_temp_file() {
    let env = Env::new().await;
    let src = env.root.join("p.bin");
    make_file(&src, 4 << 20, 9);
    env.fault(r#"{"path":"/p.bin","method":"GET","bandwidth_bps":2097152}"#)
        .await;
    let mut cfg = rt_config();
    cfg.state_file = Some(env.state_file());
    cfg.download_fragment = 512 * 1024;
    let dest = env.local.join("p.bin");
    let (mut d, rec) = driver(cfg.clone());
    let job = d.download(&me(), &env.url("/p.bin"), &dest).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() >= 1 << 20).await;
    let t_before = d.now();
    d.shutdown();
    env.clear_faults().await;

    // "Reboot": a new driver loads the state file.
    let (mut d, rec2) = driver(cfg);
    assert!(d.now() >= t_before, "the clock stays monotonic");
    let j = d.manager().job(job).expect("the job survived");
    let resumed_at = j.files[0].bytes_transferred;
    assert!(resumed_at >= 1 << 20);
    // X2 sent the active job back to QUEUED; the scheduler restarts it.
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert_eq!(rec2.restarts(), 0, "resumed, not restarted");
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&dest), sha(&src));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_driver_resumes_an_upload_in_the_same_session() {
    let env = Env::new().await;
    let src = env.local.join("u.bin");
    make_file(&src, 4 << 20, 10);
    env.fault(r#"{"packet":"fragment","bandwidth_bps":2097152}"#)
        .await;
    let mut cfg = rt_config();
    cfg.state_file = Some(env.state_file());
    cfg.upload_fragment = 512 * 1024;
    let (mut d, rec) = driver(cfg.clone());
    let job = d.upload(&me(), &src, &env.url("/u.bin"), None).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() >= 1 << 20).await;
    d.shutdown();
    env.clear_faults().await;

    let (mut d, rec2) = driver(cfg);
    let resumed_at = d.manager().job(job).expect("the job survived").files[0].bytes_transferred;
    assert!(resumed_at >= 1 << 20);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert_eq!(rec2.restarts(), 0, "same session (Ping), no new one");
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&env.root.join("u.bin")), sha(&src));
}
