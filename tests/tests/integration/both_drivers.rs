//! Decisions a driver takes part in, each written once as a case over
//! [`Backend`] and run through both drivers of the one model: the simulator
//! (`SimBackend`, virtual time) and the real-time driver (`RtBackend`, real
//! HTTP to bitsim-server over loopback, real files). The rule lives in the
//! model; these pin that every driver applies it.
//!
//! * A28: after the upload-reply server application answered 403, Resume
//!   does not post the upload again \[SRVAPPERR\].
//! * A30: a download's temporary file is the model's `temp_file_name`
//!   beside the destination, until Complete renames it \[COMPLETE\].
//!
//! (The conformance suite, `cargo test -p bitsim-windows`, runs its 22
//! cases through both drivers too.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bitsim::Scenario;
use bitsim::backend::{Backend, SimBackend};
use bitsim::realtime::{RtBackend, RtConfig};
use bitsim_model::{ErrorContext, FileRef, Hresult, JobState, JobType, temp_file_name};
use bitsim_server::{NotifyBy, ReplyApp, ReplyRoute, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::realtime::common::{make_file, server_config};

/// The A28 case. `url` is an upload-reply URL whose server application
/// answers 403 to the first post and would answer with a reply to a second
/// one; `posts` counts the posts where the world can.
fn a28_no_post_after_403<B: Backend>(
    b: &mut B,
    url: &str,
    src: &str,
    reply: &str,
    posts: &dyn Fn() -> Option<usize>,
) {
    let wait = Duration::from_secs(120);
    let ended = |s: JobState| matches!(s, JobState::Error | JobState::Transferred);
    let job = b.create_job("a28", JobType::UploadReply).unwrap();
    b.add_file(job, url, src).unwrap();
    b.set_reply_file_name(job, reply).unwrap();
    b.resume(job).unwrap();
    assert_eq!(b.wait_for(job, wait, &ended), JobState::Error);
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteApplication, Hresult::http(403))
    );
    assert_eq!(posts(), posts().map(|_| 1), "one post to the application");

    // [SRVAPPERR]: 403 is "the only error code that prevents BITS from
    // posting the upload file to the server application again". A second
    // post would get a reply and reach TRANSFERRED.
    b.resume(job).unwrap();
    assert_eq!(
        b.wait_for(job, wait, &ended),
        JobState::Error,
        "the upload was posted again after a 403"
    );
    let e = b.error(job).unwrap();
    assert_eq!(
        (e.context, e.code),
        (ErrorContext::RemoteApplication, Hresult::http(403))
    );
    assert_eq!(posts(), posts().map(|_| 1), "posted again after a 403");
    b.cancel(job).unwrap();
}

/// The A30 case: `disk_has` looks at the driver's local disk.
fn a30_temp_file_beside_the_destination<B: Backend>(
    b: &mut B,
    url: &str,
    dest: &str,
    disk_has: &dyn Fn(&B, &str) -> bool,
) {
    let job = b.create_job("a30", JobType::Download).unwrap();
    b.add_file(job, url, dest).unwrap();
    b.resume(job).unwrap();
    let s = b.wait_for(job, Duration::from_secs(120), &|s| {
        s == JobState::Transferred
    });
    assert_eq!(s, JobState::Transferred);
    let temp = temp_file_name(dest, job, FileRef::File(0));
    assert!(
        Path::new(&temp).parent() == Path::new(dest).parent(),
        "{temp} is not beside {dest}"
    );
    assert!(disk_has(b, &temp), "no temporary file {temp}");
    assert!(!disk_has(b, dest), "{dest} published before Complete");
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert!(!disk_has(b, &temp), "{temp} left after Complete");
    assert!(disk_has(b, dest), "Complete did not publish {dest}");
}

/// The simulated world: one server with a file and an application that
/// answers 403 once under `/app/`.
fn sim() -> SimBackend {
    let world = r#"
name = "both drivers"
duration = "365d"

[[servers]]
host = "both.test"
reply_size = "4KiB"
files = { "/a.bin" = 100000 }

[[faults]]
kind = "server_app_failure"
url = "/app/"
status = 403
count = 1
"#;
    SimBackend::new(Scenario::parse(world, "both").unwrap(), 0, "tester")
}

/// The real world: bitsim-server on loopback with `a.bin` and an upload
/// route `/app/` to an application that answers 403 to its first post and
/// a reply to later ones; the count of posts.
struct Real {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    server: Option<ServerHandle>,
    base: String,
    posts: Arc<AtomicUsize>,
}

impl Real {
    fn new() -> Real {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::create_dir_all(dir.path().join("local")).unwrap();
        make_file(&root.join("a.bin"), 100_000, 3);
        let posts = Arc::new(AtomicUsize::new(0));
        let counter = posts.clone();
        let (server, base) = rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let app = l.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        let _ = s.read(&mut buf).await;
                        let answer: &[u8] = if n == 0 {
                            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nreply"
                        };
                        let _ = s.write_all(answer).await;
                    });
                }
            });
            let mut cfg = server_config(&root, "127.0.0.1:0".parse().unwrap());
            cfg.reply.push(ReplyRoute {
                prefix: "/app/".into(),
                app: ReplyApp::Notify {
                    url: format!("http://{app}/notify"),
                    by: NotifyBy::Reference,
                    timeout_ms: 60_000,
                },
            });
            let server = Server::bind(cfg).await.unwrap().spawn();
            let base = format!("http://{}", server.local_addr());
            (server, base)
        });
        Real {
            rt,
            dir,
            server: Some(server),
            base,
            posts,
        }
    }

    fn local(&self, name: &str) -> String {
        self.dir
            .path()
            .join("local")
            .join(name)
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

#[test]
fn a28_no_post_after_403_on_the_simulator() {
    let mut b = sim();
    a28_no_post_after_403(
        &mut b,
        "http://both.test/app/x.bin",
        "/local/x.bin",
        "/local/x-reply.bin",
        &|| None,
    );
}

#[test]
fn a28_no_post_after_403_on_the_real_time_driver() {
    let w = Real::new();
    let src = w.local("x.bin");
    make_file(Path::new(&src), 1000, 8);
    let mut b = RtBackend::new(RtConfig::default(), "tester").unwrap();
    a28_no_post_after_403(
        &mut b,
        &format!("{}/app/x.bin", w.base),
        &src,
        &w.local("x-reply.bin"),
        &|| Some(w.posts.load(Ordering::SeqCst)),
    );
}

#[test]
fn a30_temp_file_on_the_simulator() {
    let mut b = sim();
    a30_temp_file_beside_the_destination(
        &mut b,
        "http://both.test/a.bin",
        "/local/a.bin",
        &|b: &SimBackend, p: &str| b.disk_has(p),
    );
}

#[test]
fn a30_temp_file_on_the_real_time_driver() {
    let w = Real::new();
    let mut b = RtBackend::new(RtConfig::default(), "tester").unwrap();
    a30_temp_file_beside_the_destination(
        &mut b,
        &format!("{}/a.bin", w.base),
        &w.local("a.bin"),
        &|_: &RtBackend, p: &str| Path::new(p).exists(),
    );
}
