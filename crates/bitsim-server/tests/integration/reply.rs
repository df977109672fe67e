//! Upload-reply: built-in apps and external notification.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bitsim_server::{Config, NotifyBy, ReplyApp, ReplyRoute};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::*;

fn route(prefix: &str, app: ReplyApp) -> ReplyRoute {
    ReplyRoute {
        prefix: prefix.into(),
        app,
    }
}

/// Uploads `body` in 2 fragments and returns the last Ack.
async fn upload_no_close(a: SocketAddr, path: &str, body: &[u8]) -> (String, Resp) {
    let id = create(a, path).await;
    let half = body.len() / 2;
    let r = fragment(a, path, &id, 0, body.len() as u64, &body[..half]).await;
    assert!(
        r.header("BITS-Reply-URL").is_none(),
        "no reply URL before the last byte"
    );
    let r = fragment(a, path, &id, half as u64, body.len() as u64, &body[half..]).await;
    (id, r)
}

/// Fetches an absolute http://host/path URL from the server.
async fn get_url(a: SocketAddr, url: &str, headers: &[(&str, &str)]) -> Resp {
    let path = url
        .split_once("://")
        .map(|(_, r)| r)
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .unwrap();
    request(a, "GET", path, headers, b"").await
}

#[tokio::test]
async fn echo_reply_is_served_with_ranges() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.reply = vec![route(
        "/echo/",
        ReplyApp::Echo {
            copy_to_destination: false,
        },
    )];
    let s = start(c).await;
    let a = s.local_addr();
    let body = data(50_000, 9);
    let (id, r) = upload_no_close(a, "/echo/up.bin", &body).await;
    assert_eq!((r.status, r.received()), (200, 50_000));
    let url = r
        .header("BITS-Reply-URL")
        .expect("BITS-Reply-URL on the completing Ack")
        .to_string();
    assert!(url.starts_with("http://"), "{url}");
    let g = get_url(a, &url, &[]).await;
    assert_eq!((g.status, g.body.as_slice()), (200, body.as_slice()));
    let g = get_url(a, &url, &[("Range", "bytes=10-19")]).await;
    assert_eq!((g.status, g.body.as_slice()), (206, &body[10..20]));
    assert_eq!(g.header("Content-Range"), Some("bytes 10-19/50000"));
    let h = request(
        a,
        "HEAD",
        url.split_once(&a.to_string()).unwrap().1,
        &[],
        b"",
    )
    .await;
    assert_eq!(h.header("Content-Length"), Some("50000"));
    // A resent last fragment re-Acks with the same reply URL.
    let r = fragment(a, "/echo/up.bin", &id, 25_000, 50_000, &body[25_000..]).await;
    assert_eq!(r.header("BITS-Reply-URL"), Some(url.as_str()));
    assert_eq!(close(a, "/echo/up.bin", &id).await.status, 200);
    // Without BITS-Copy-File-To-Destination nothing is published, and the reply is gone.
    assert!(!d.path().join("echo/up.bin").exists());
    assert_eq!(get_url(a, &url, &[]).await.status, 404);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn sha256_reply_and_copy_to_destination() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.reply = vec![route(
        "/sha/",
        ReplyApp::Sha256 {
            copy_to_destination: true,
        },
    )];
    let s = start(c).await;
    let a = s.local_addr();
    let (id, r) = upload_no_close(a, "/sha/hw.txt", b"hello world").await;
    let url = r.header("BITS-Reply-URL").unwrap().to_string();
    let g = get_url(a, &url, &[]).await;
    assert_eq!(
        String::from_utf8(g.body).unwrap(),
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(close(a, "/sha/hw.txt", &id).await.status, 200);
    assert_eq!(
        std::fs::read(d.path().join("sha/hw.txt")).unwrap(),
        b"hello world"
    );
    s.shutdown().await.unwrap();
}

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
}

enum Mode {
    /// By reference: write `reply` to the response file, answer 200 with extra headers.
    WriteFile(&'static [u8], &'static [(&'static str, &'static str)]),
    /// Answer 200 with the request body reversed.
    Reverse,
    /// Answer with this status.
    Status(u16),
    /// Never answer.
    Hang,
}

/// A one-purpose back-end application on loopback.
async fn backend(mode: Mode) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let mode = Arc::new(mode);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let seen = seen2.clone();
            let mode = mode.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 65536];
                let head_end = loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers: Vec<(String, String)> = head
                    .split("\r\n")
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&tmp[..n]);
                }
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                let seen_req = Seen {
                    target,
                    headers,
                    body,
                };
                seen.lock().unwrap().push(seen_req.clone());
                let resp: Vec<u8> = match &*mode {
                    Mode::WriteFile(reply, extra) => {
                        if let Some(p) = seen_req.header("BITS-Response-DataFile-Name") {
                            std::fs::write(p, reply).unwrap();
                        }
                        let mut r = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n"
                            .to_string();
                        for (k, v) in *extra {
                            r.push_str(&format!("{k}: {v}\r\n"));
                        }
                        r.push_str("\r\n");
                        r.into_bytes()
                    }
                    Mode::Reverse => {
                        let mut b = seen_req.body.clone();
                        b.reverse();
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                    Mode::Status(code) => format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    Mode::Hang => {
                        std::future::pending::<()>().await;
                        Vec::new()
                    }
                };
                let _ = s.write_all(&resp).await;
            });
        }
    });
    (addr, seen)
}

fn notify_cfg(root: &std::path::Path, app: SocketAddr, by: NotifyBy, timeout_ms: u64) -> Config {
    let mut c = cfg(root);
    c.reply = vec![route(
        "/app/",
        ReplyApp::Notify {
            url: format!("http://{app}/notify"),
            by,
            timeout_ms,
        },
    )];
    c
}

#[tokio::test]
async fn notify_by_reference() {
    let d = tempfile::tempdir().unwrap();
    let (app, seen) = backend(Mode::WriteFile(
        b"the reply",
        &[("BITS-Copy-File-To-Destination", "true")],
    ))
    .await;
    let s = start(notify_cfg(d.path(), app, NotifyBy::Reference, 30_000)).await;
    let a = s.local_addr();
    let (id, r) = upload_no_close(a, "/app/in.bin?user=7", b"uploaded bytes").await;
    assert_eq!(r.status, 200, "{r:?}");
    let url = r.header("BITS-Reply-URL").unwrap().to_string();
    assert_eq!(get_url(a, &url, &[]).await.body, b"the reply");
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(
        req.header("BITS-Original-Request-URL"),
        Some(format!("http://{a}/app/in.bin?user=7").as_str())
    );
    assert_eq!(
        req.target, "/notify?user=7",
        "query appended to the notification URL"
    );
    let data_file = req.header("BITS-Request-DataFile-Name").unwrap();
    assert!(req.header("BITS-Response-DataFile-Name").is_some());
    assert_eq!(req.header("Content-Length"), Some("0"));
    assert!(req.body.is_empty());
    assert_eq!(std::fs::read(data_file).unwrap(), b"uploaded bytes");
    assert_eq!(close(a, "/app/in.bin?user=7", &id).await.status, 200);
    assert_eq!(
        std::fs::read(d.path().join("app/in.bin")).unwrap(),
        b"uploaded bytes"
    );
    s.shutdown().await.unwrap();
}

/// [W32-IISPROPS]: a relative BITSServerNotificationURL is resolved against
/// the upload URL. The upload names the app's address in its Host header (as
/// a client of a reverse proxy in front of both would), so the resolved URL
/// reaches the app at the upload's directory + `../hook/n.asp`.
#[tokio::test]
async fn notify_relative_url_resolves_against_the_upload_url() {
    let d = tempfile::tempdir().unwrap();
    let (app, seen) = backend(Mode::Reverse).await;
    let mut c = cfg(d.path());
    c.reply = vec![route(
        "/app/",
        ReplyApp::Notify {
            url: "../hook/n.asp?k=v".into(),
            by: NotifyBy::Value,
            timeout_ms: 30_000,
        },
    )];
    let s = start(c).await;
    let a = s.local_addr();
    let path = "/app/sub/in.bin?user=7";
    let host = app.to_string();
    let h = [("Host", host.as_str())];
    let r = bits(
        a,
        path,
        "Create-Session",
        &[("BITS-Supported-Protocols", PROTO), h[0]],
        b"",
    )
    .await;
    let id = r.header("BITS-Session-Id").unwrap().to_string();
    let r = bits(
        a,
        path,
        "Fragment",
        &[
            ("BITS-Session-Id", &id),
            ("Content-Range", "bytes 0-2/3"),
            h[0],
        ],
        b"abc",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.target, "/app/hook/n.asp?k=v&user=7");
    assert_eq!(req.header("Host"), Some(host.as_str()));
    assert_eq!(req.body, b"abc");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn notify_over_https_is_refused_at_start() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.reply = vec![route(
        "/app/",
        ReplyApp::Notify {
            url: "https://127.0.0.1:9/n".into(),
            by: NotifyBy::Value,
            timeout_ms: 30_000,
        },
    )];
    let e = bitsim_server::Server::bind(c)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(e.as_deref().is_some_and(|e| e.contains("http://")), "{e:?}");
}

#[tokio::test]
async fn notify_by_value() {
    let d = tempfile::tempdir().unwrap();
    let (app, seen) = backend(Mode::Reverse).await;
    let s = start(notify_cfg(d.path(), app, NotifyBy::Value, 30_000)).await;
    let a = s.local_addr();
    let (id, r) = upload_no_close(a, "/app/v.bin", b"abcdef").await;
    let url = r.header("BITS-Reply-URL").unwrap().to_string();
    assert_eq!(get_url(a, &url, &[]).await.body, b"fedcba");
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.body, b"abcdef");
    assert!(req.header("BITS-Request-DataFile-Name").is_none());
    assert_eq!(close(a, "/app/v.bin", &id).await.status, 200);
    assert!(
        !d.path().join("app/v.bin").exists(),
        "not copied without the header"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn notify_static_response_url() {
    let d = tempfile::tempdir().unwrap();
    let (app, _) = backend(Mode::WriteFile(
        b"",
        &[("BITS-Static-Response-URL", "http://static.test/reply")],
    ))
    .await;
    let s = start(notify_cfg(d.path(), app, NotifyBy::Reference, 30_000)).await;
    let (_, r) = upload_no_close(s.local_addr(), "/app/s.bin", b"xy").await;
    assert_eq!(r.header("BITS-Reply-URL"), Some("http://static.test/reply"));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn notify_errors_have_context_7() {
    let d = tempfile::tempdir().unwrap();
    let (app, seen) = backend(Mode::Status(403)).await;
    let s = start(notify_cfg(d.path(), app, NotifyBy::Reference, 30_000)).await;
    let a = s.local_addr();
    let (id, r) = upload_no_close(a, "/app/e.bin", b"xy").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("BITS-Error-Context"), Some("0x7"));
    assert_eq!(r.error_code(), Some("0x80190193"));
    assert_eq!(r.received(), 2);
    // Resending the last fragment re-notifies (apps tolerate duplicates).
    let r = fragment(a, "/app/e.bin", &id, 1, 2, b"y").await;
    assert_eq!(r.status, 403);
    assert_eq!(seen.lock().unwrap().len(), 2);
    s.shutdown().await.unwrap();

    let (app, _) = backend(Mode::Hang).await;
    let s = start(notify_cfg(d.path(), app, NotifyBy::Reference, 200)).await;
    let (_, r) = upload_no_close(s.local_addr(), "/app/t.bin", b"xy").await;
    assert_eq!(r.status, 408);
    assert_eq!(r.error_code(), Some("0x80070112"));
    assert_eq!(r.header("BITS-Error-Context"), Some("0x7"));
    s.shutdown().await.unwrap();
}

/// A session that times out takes its reply with it ([W32-IISPROPS]
/// BITSSessionTimeout), even before the sweeper has run.
#[tokio::test]
async fn an_expired_session_has_no_reply() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.reply = vec![route(
        "/echo/",
        ReplyApp::Echo {
            copy_to_destination: false,
        },
    )];
    c.session_timeout_secs = 2;
    c.sweep_interval_secs = 3600;
    let s = start(c).await;
    let a = s.local_addr();
    let (_id, r) = upload_no_close(a, "/echo/up.bin", b"hello").await;
    let url = r.header("BITS-Reply-URL").expect("reply url").to_string();
    assert_eq!(get_url(a, &url, &[]).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(get_url(a, &url, &[]).await.status, 404);
    s.shutdown().await.unwrap();
}
