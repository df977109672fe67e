//! Uploads as the [MC-BUP] client, checked byte for byte on the server.

use bitsim_model::{Hresult, JobState};

use super::common::*;

async fn round_trip(len: u64) {
    let env = Env::new().await;
    let src = env.local.join("up.bin");
    make_file(&src, len, 3);
    let (mut d, _rec) = driver(rt_config());
    let job = d.upload(&me(), &src, &env.url("/up.bin"), None).unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert_eq!(d.complete(&me(), job).unwrap(), Hresult::S_OK);
    assert_eq!(state(d.manager(), job), Some(JobState::Acknowledged));
    let published = env.root.join("up.bin");
    if len == 0 {
        // The server publishes nothing for a session without fragments
        // (Content-Range cannot express an empty upload).
        return;
    }
    assert_eq!(sha(&published), sha(&src));
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
async fn fragment_413_halves_down_to_5_kb() {
    let env = Env::new().await;
    let src = env.local.join("big.bin");
    make_file(&src, 300_000, 4);
    env.fault(r#"{"packet":"fragment","status":413,"times":3}"#)
        .await;
    let mut cfg = rt_config();
    cfg.upload_fragment = 64 * 1024;
    let (mut d, _rec) = driver(cfg);
    let job = d.upload(&me(), &src, &env.url("/big.bin"), None).unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&env.root.join("big.bin")), sha(&src));
}

#[tokio::test]
async fn session_not_found_starts_a_new_session() {
    let env = Env::new().await;
    let src = env.local.join("s.bin");
    make_file(&src, 200_000, 5);
    // The first fragment is told the session is gone.
    env.fault(r#"{"packet":"fragment","status":500,"error_code":"0x8020001F","times":1}"#)
        .await;
    let mut cfg = rt_config();
    cfg.upload_fragment = 64 * 1024;
    let (mut d, rec) = driver(cfg);
    let job = d.upload(&me(), &src, &env.url("/s.bin"), None).unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert!(rec.restarts() >= 1, "the upload restarted in a new session");
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&env.root.join("s.bin")), sha(&src));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_upload_sends_cancel_session() {
    let env = Env::new().await;
    let src = env.local.join("c.bin");
    make_file(&src, 4 << 20, 11);
    env.fault(r#"{"packet":"fragment","bandwidth_bps":1048576}"#)
        .await;
    let mut cfg = rt_config();
    cfg.upload_fragment = 256 * 1024;
    let (mut d, rec) = driver(cfg);
    let job = d.upload(&me(), &src, &env.url("/c.bin"), None).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() > 0).await;
    let (_, live) = http(env.addr, "GET", "/_bitsim/sessions", b"").await;
    assert!(
        live.contains("c.bin") || live.len() > 2,
        "a session is open: {live}"
    );
    d.call(|m, now| m.cancel(now, &me(), job)).unwrap();
    // X3: the job is out of sight at once; Cancel-Session follows.
    assert!(d.manager().job(job).is_none_or(|j| j.removed));
    let start = std::time::Instant::now();
    let live = loop {
        d.run_until(std::time::Duration::from_millis(200), |_| false)
            .await;
        let (_, live) = http(env.addr, "GET", "/_bitsim/sessions", b"").await;
        if live.trim() == "[]" || start.elapsed() > WAIT {
            break live;
        }
    };
    assert_eq!(live.trim(), "[]", "the server dropped the session");
    assert!(!env.root.join("c.bin").exists());
}

/// Runs until the job leaves the active states; returns the state and the
/// error it recorded.
async fn run_to_failure(
    d: &mut bitsim::realtime::Driver,
    job: bitsim_model::JobId,
) -> (JobState, Option<Hresult>) {
    d.run_until(WAIT, |m| {
        state(m, job).is_none_or(|s| {
            matches!(
                s,
                JobState::Error | JobState::TransientError | JobState::Transferred
            ) || s.is_final()
        })
    })
    .await;
    let j = d.manager().job(job).expect("job exists");
    (j.state, j.error.as_ref().map(|e| e.code))
}

/// A refusal answered before the server reads a Fragment's body reaches
/// the job as the status it carries, whatever the fragment's size: the
/// server may close the connection while the client is still sending
/// (issue: a 4 MiB fragment got WININET_E_CONNECTION_RESET, transient,
/// where a 100 KB one got the 403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_large_fragment_reports_the_status_not_a_reset() {
    let cases = [
        // (file size, fault, state, code)
        (
            100_000u64,
            r#"{"packet":"fragment","status":403}"#,
            JobState::Error,
            403,
        ),
        (
            12 << 20,
            r#"{"packet":"fragment","status":403}"#,
            JobState::Error,
            403,
        ),
        // Transient refusals keep their status too.
        (
            12 << 20,
            r#"{"packet":"fragment","status":503}"#,
            JobState::TransientError,
            503,
        ),
    ];
    for (len, fault, want_state, status) in cases {
        let env = Env::new().await;
        let src = env.local.join("big.bin");
        make_file(&src, len, 5);
        env.fault(fault).await;
        let mut cfg = rt_config();
        cfg.upload_fragment = 4 << 20;
        let (mut d, _rec) = driver(cfg);
        let job = d.upload(&me(), &src, &env.url("/big.bin"), None).unwrap();
        resume(&mut d, job);
        let (st, code) = run_to_failure(&mut d, job).await;
        assert_eq!(
            (st, code),
            (want_state, Some(Hresult::http(status))),
            "{len} bytes, {fault}"
        );
    }
}

/// A refusal of a large fragment reaches the client as the status it
/// carries, not as a reset: the server reads the unread body before it
/// answers (keep-alive through refusals), so a 403 on a 40 MB upload's
/// first 16 MiB fragment ends the job with BG_E_HTTP_ERROR_403 (fatal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_on_a_large_fragment_is_the_403() {
    let env = Env::new().await;
    std::fs::create_dir_all(env.root.join("up")).unwrap();
    env.fault(r#"{"path":"/up/","packet":"fragment","status":403}"#)
        .await;
    let src = env.local.join("big.bin");
    make_file(&src, 40_000_000, 9);
    let mut cfg = rt_config();
    cfg.upload_fragment = 16 << 20;
    let (mut d, _rec) = driver(cfg);
    let job = d
        .upload(&me(), &src, &env.url("/up/big.bin"), None)
        .unwrap();
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.code, Hresult::http(403), "{e:?}");
}
