//! Server faults switched on through the control API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bitsim::realtime::RtEvent;
use bitsim::{Callback, CallbackResult, JobHandle};
use bitsim_model::{ErrorContext, ErrorInfo, Hresult, JobState};
use bitsim_server::Server;

use super::common::*;

/// Counts JobError calls.
struct CountErrors(Arc<AtomicUsize>);

impl Callback for CountErrors {
    fn job_error(&mut self, _job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
        self.0.fetch_add(1, Ordering::SeqCst);
        CallbackResult::ok()
    }
}

#[tokio::test]
async fn http_503_is_transient_and_retried_after_the_retry_delay() {
    let env = Env::new().await;
    make_file(&env.root.join("a.bin"), 10_000, 1);
    env.fault(r#"{"path":"/a.bin","method":"HEAD","status":503,"times":1}"#)
        .await;
    let (mut d, rec) = driver(rt_config());
    let dest = env.local.join("a.bin");
    let job = d.download(&me(), &env.url("/a.bin"), &dest).unwrap();
    // SetMinimumRetryDelay: 0 is raised to the 5 s floor [SETRETRY].
    d.call(|m, now| m.set_minimum_retry_delay(now, &me(), job, 0))
        .unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    let ev = rec.events();
    let entered = |s: JobState| {
        ev.iter()
            .filter_map(|(t, e)| match e {
                RtEvent::Transition { from, to, code, .. } if *to == s && from != to => {
                    Some((*t, *code))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let transient = entered(JobState::TransientError);
    assert_eq!(transient.len(), 1);
    assert_eq!(transient[0].1, Some(Hresult::http(503)));
    let retried = entered(JobState::Queued)
        .into_iter()
        .find(|(t, _)| *t > transient[0].0)
        .expect("retried");
    let waited = retried.0 - transient[0].0;
    assert!(
        waited >= Duration::from_millis(4900),
        "retried after {waited:?}"
    );
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&dest), sha(&env.root.join("a.bin")));
}

#[tokio::test]
async fn http_404_is_fatal_with_remote_file_context_and_job_error() {
    let env = Env::new().await;
    let (mut d, rec) = driver(rt_config());
    let job = d
        .download(&me(), &env.url("/missing.bin"), env.local.join("m.bin"))
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    d.register_callback(&me(), job, Box::new(CountErrors(calls.clone())))
        .unwrap();
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    d.run_until(WAIT, |_| calls.load(Ordering::SeqCst) > 0)
        .await;
    let j = d.manager().job(job).unwrap();
    let e = j.error.as_ref().unwrap();
    assert_eq!(e.code, Hresult::http(404));
    assert_eq!(e.context, ErrorContext::RemoteFile);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "JobError called once");
    assert_eq!(rec.callbacks("JobError"), 1);
    assert!(
        !rec.states().contains(&JobState::TransientError),
        "404 is fatal at once"
    );
}

#[tokio::test]
async fn range_support_dropped_is_insufficient_range_support() {
    let env = Env::new().await;
    make_file(&env.root.join("r.bin"), 50_000, 2);
    env.fault(r#"{"path":"/r.bin","ignore_range":true}"#).await;
    let (mut d, _rec) = driver(rt_config());
    let job = d
        .download(&me(), &env.url("/r.bin"), env.local.join("r.bin"))
        .unwrap();
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.code, Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT);
    assert_eq!(e.context, ErrorContext::RemoteFile);
}

#[tokio::test]
async fn last_modified_changed_mid_download_restarts_the_file() {
    let env = Env::new().await;
    let src = env.root.join("lm.bin");
    make_file(&src, 4 << 20, 3);
    env.fault(r#"{"path":"/lm.bin","method":"GET","bandwidth_bps":2097152}"#)
        .await;
    let mut cfg = rt_config();
    cfg.download_fragment = 512 * 1024;
    let (mut d, rec) = driver(cfg);
    let dest = env.local.join("lm.bin");
    let job = d.download(&me(), &env.url("/lm.bin"), &dest).unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() >= 512 * 1024)
        .await;
    // The next GET sees a new Last-Modified.
    env.fault(r#"{"path":"/lm.bin","method":"GET","change_last_modified":true,"times":1}"#)
        .await;
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    assert!(rec.restarts() >= 1, "the file restarted");
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&dest), sha(&src));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_mid_upload_loses_no_byte() {
    let mut env = Env::new().await;
    let src = env.local.join("k.bin");
    make_file(&src, 6 << 20, 4);
    // Slow fragments so the kill lands mid-upload.
    env.fault(r#"{"packet":"fragment","bandwidth_bps":2097152}"#)
        .await;
    let mut cfg = rt_config();
    cfg.upload_fragment = 512 * 1024;
    let (mut d, rec) = driver(cfg);
    let job = d.upload(&me(), &src, &env.url("/k.bin"), None).unwrap();
    d.call(|m, now| m.set_minimum_retry_delay(now, &me(), job, 5))
        .unwrap();
    resume(&mut d, job);
    d.run_until(WAIT, |_| rec.max_progress() >= 1 << 20).await;
    let before = rec.max_progress();
    assert!(before < 6 << 20, "still mid-upload");
    env.server.take().unwrap().shutdown().await.unwrap();
    // The driver sees the server gone: TRANSIENT_ERROR.
    let killed = Instant::now();
    d.run_until(WAIT, |m| state(m, job) == Some(JobState::TransientError))
        .await;
    assert_eq!(state(d.manager(), job), Some(JobState::TransientError));
    // Restart on the same port and root: sessions were persisted.
    let addr: SocketAddr = env.addr;
    let server = loop {
        match Server::bind(server_config(&env.root, addr)).await {
            Ok(s) => break s.spawn(),
            Err(_) if killed.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("rebind: {e}"),
        }
    };
    env.server = Some(server);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&env.root.join("k.bin")), sha(&src), "no byte lost");
}

/// A one-answer HTTP server: every request gets `answer(addr)`.
async fn raw_server(answer: impl Fn() -> String + Send + Sync + 'static) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer().as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn redirects_are_followed() {
    let env = Env::new().await;
    let src = env.root.join("moved.bin");
    make_file(&src, 100_000, 5);
    let target = env.url("/moved.bin");
    let redirector = raw_server(move || {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    })
    .await;
    let (mut d, _rec) = driver(rt_config());
    let dest = env.local.join("moved.bin");
    let job = d
        .download(&me(), &format!("http://{redirector}/old.bin"), &dest)
        .unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    d.complete(&me(), job).unwrap();
    assert_eq!(sha(&dest), sha(&src));
}

#[tokio::test]
async fn no_content_length_is_missing_file_size() {
    let dynamic = raw_server(|| "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _rec) = driver(rt_config());
    let job = d
        .download(
            &me(),
            &format!("http://{dynamic}/gen.cgi"),
            dir.path().join("g"),
        )
        .unwrap();
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.code, Hresult::BG_E_MISSING_FILE_SIZE);
}

#[tokio::test]
async fn connection_refused_is_a_transient_connect_failure() {
    // A port nobody listens on (bound, then released).
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _rec) = driver(rt_config());
    let job = d
        .download(&me(), &format!("http://{addr}/x"), dir.path().join("x"))
        .unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::TransientError).await,
        JobState::TransientError
    );
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.code, Hresult::BG_E_CONNECT_FAILURE);
    assert_eq!(e.context, ErrorContext::GeneralTransport);
}
