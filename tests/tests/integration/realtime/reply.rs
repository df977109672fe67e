//! Upload-reply end to end, and a failing server application.

use bitsim_model::{ErrorContext, Hresult, JobState};
use bitsim_server::{NotifyBy, ReplyApp, ReplyRoute};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::common::*;

#[tokio::test]
async fn echo_reply_round_trip() {
    let env = Env::with(|c| {
        c.reply.push(ReplyRoute {
            prefix: "/echo/".into(),
            app: ReplyApp::Echo {
                copy_to_destination: false,
            },
        })
    })
    .await;
    let src = env.local.join("q.bin");
    make_file(&src, 300_000, 7);
    let out = env.local.join("reply.bin");
    let mut cfg = rt_config();
    cfg.upload_fragment = 100_000;
    let (mut d, _rec) = driver(cfg);
    let job = d
        .upload(&me(), &src, &env.url("/echo/q.bin"), Some(&out))
        .unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred
    );
    let j = d.manager().job(job).unwrap();
    assert_eq!(j.reply.as_ref().unwrap().bytes_transferred, 300_000);
    assert_eq!(d.complete(&me(), job).unwrap(), Hresult::S_OK);
    assert_eq!(sha(&out), sha(&src), "the echo reply is the upload");
    assert!(temps(&env.local).is_empty());
}

/// A back-end that answers every notification with 403, and counts them.
async fn refusing_app() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (addr, posts)
}

#[tokio::test]
async fn failing_server_application_is_remote_application() {
    let (app, posts) = refusing_app().await;
    let env = Env::with(|c| {
        c.reply.push(ReplyRoute {
            prefix: "/app/".into(),
            app: ReplyApp::Notify {
                url: format!("http://{app}/notify"),
                by: NotifyBy::Reference,
                timeout_ms: 60_000,
            },
        })
    })
    .await;
    let src = env.local.join("x.bin");
    make_file(&src, 1000, 8);
    let (mut d, _rec) = driver(rt_config());
    let job = d
        .upload(
            &me(),
            &src,
            &env.url("/app/x.bin"),
            Some(&env.local.join("r.bin")),
        )
        .unwrap();
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.context, ErrorContext::RemoteApplication);
    assert_eq!(e.code, Hresult::http(403));
    assert_eq!(posts.load(Ordering::SeqCst), 1);

    // Decision A28 [SRVAPPERR]: after a 403 the upload is never posted to
    // the application again; a Resume fails the same way (the simulator's
    // twin is sim-scenarios/16, job "rejected-resumed").
    resume(&mut d, job);
    assert_eq!(run_to(&mut d, job, JobState::Error).await, JobState::Error);
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteApplication, Hresult::http(403))
    );
    assert_eq!(posts.load(Ordering::SeqCst), 1, "posted again after a 403");
}
