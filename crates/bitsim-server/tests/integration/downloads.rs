//! GET/HEAD with ranges, and download faults.

use crate::client::*;

async fn setup() -> (tempfile::TempDir, bitsim_server::ServerHandle, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    let body = data(200_000, 7);
    std::fs::create_dir(d.path().join("pub")).unwrap();
    std::fs::write(d.path().join("pub/file.bin"), &body).unwrap();
    let s = start(cfg(d.path())).await;
    (d, s, body)
}

#[tokio::test]
async fn head_and_get_headers_match() {
    let (_d, s, body) = setup().await;
    let a = s.local_addr();
    let h = request(a, "HEAD", "/pub/file.bin", &[], b"").await;
    let g = request(a, "GET", "/pub/file.bin", &[], b"").await;
    assert_eq!((h.status, g.status), (200, 200));
    for name in ["Content-Length", "Last-Modified", "ETag", "Accept-Ranges"] {
        assert!(h.header(name).is_some(), "HEAD lacks {name}");
        assert_eq!(h.header(name), g.header(name), "{name}");
    }
    assert_eq!(g.header("Content-Length"), Some("200000"));
    assert_eq!(g.header("Accept-Ranges"), Some("bytes"));
    assert!(h.body.is_empty());
    assert_eq!(g.body, body);
    s.shutdown().await.unwrap();
}

/// Conditional requests as curl and download managers send them when they
/// resume a file (RFC 9110 13): the server must not splice a stale range
/// onto a newer file, nor resend a file the client already has.
#[tokio::test]
async fn conditional_requests() {
    let (d, s, body) = setup().await;
    let a = s.local_addr();
    let g = request(a, "GET", "/pub/file.bin", &[], b"").await;
    let etag = g.header("ETag").unwrap().to_string();
    let lm = g.header("Last-Modified").unwrap().to_string();
    let get = |h: Vec<(&'static str, String)>| async move {
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        request(a, "GET", "/pub/file.bin", &h, b"").await
    };
    // If-Range naming this version: the range; another version: all of it.
    let r = get(vec![
        ("Range", "bytes=0-9".into()),
        ("If-Range", etag.clone()),
    ])
    .await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[..10]));
    let r = get(vec![
        ("Range", "bytes=0-9".into()),
        ("If-Range", lm.clone()),
    ])
    .await;
    assert_eq!(r.status, 206);
    let r = get(vec![
        ("Range", "bytes=0-9".into()),
        ("If-Range", "\"bogus\"".into()),
    ])
    .await;
    assert_eq!((r.status, r.body.len()), (200, body.len()));
    // The client's copy is current: 304 with the validators, no body.
    for (n, v) in [
        ("If-None-Match", etag.clone()),
        ("If-Modified-Since", lm.clone()),
    ] {
        let r = get(vec![(n, v)]).await;
        assert_eq!(r.status, 304, "{n}");
        assert_eq!(r.header("ETag"), Some(etag.as_str()), "{n}");
        assert!(r.body.is_empty(), "{n}");
    }
    // If-Match on another version: 412, nothing sent.
    let r = get(vec![("If-Match", "\"other\"".into())]).await;
    assert_eq!((r.status, r.body.len()), (412, 0));
    let r = get(vec![("If-Match", etag.clone())]).await;
    assert_eq!(r.status, 200);
    // After the file changes, the old validators no longer match.
    std::fs::write(d.path().join("pub/file.bin"), b"new content").unwrap();
    let r = get(vec![
        ("Range", "bytes=0-2".into()),
        ("If-Range", etag.clone()),
    ])
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"new content"[..]));
    let r = get(vec![("If-None-Match", etag.clone())]).await;
    assert_eq!(r.status, 200);
    s.shutdown().await.unwrap();
}

/// A file stamped before 1970 is served with the earliest HTTP date
/// instead of taking the request down (httpdate panics outside 1970-9999;
/// ext4 cannot store a date past 2446, so only the early side is tested).
#[tokio::test]
async fn files_older_than_1970_are_served() {
    let d = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(d.path().join("old")).unwrap();
    f.set_modified(std::time::UNIX_EPOCH - std::time::Duration::from_secs(10 * 365 * 86_400))
        .unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let r = request(a, "GET", "/old", &[], b"").await;
    assert_eq!(
        (r.status, r.header("Last-Modified")),
        (200, Some("Thu, 01 Jan 1970 00:00:00 GMT"))
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn single_ranges_and_unsatisfiable() {
    let (_d, s, body) = setup().await;
    let a = s.local_addr();
    let r = request(
        a,
        "GET",
        "/pub/file.bin",
        &[("Range", "bytes=100-199")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 100-199/200000"));
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert!(r.header("Last-Modified").is_some());
    assert_eq!(r.body, &body[100..200]);
    let r = request(
        a,
        "GET",
        "/pub/file.bin",
        &[("Range", "bytes=199990-")],
        b"",
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[199_990..]));
    let r = request(a, "GET", "/pub/file.bin", &[("Range", "bytes=-5")], b"").await;
    assert_eq!(
        r.header("Content-Range"),
        Some("bytes 199995-199999/200000")
    );
    let r = request(
        a,
        "GET",
        "/pub/file.bin",
        &[("Range", "bytes=200000-")],
        b"",
    )
    .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */200000"));
    // Malformed: ignored, whole file.
    let r = request(a, "GET", "/pub/file.bin", &[("Range", "bytes=0-1,x")], b"").await;
    assert_eq!((r.status, r.body.len()), (200, 200_000));
    let r = request(a, "GET", "/pub/missing", &[], b"").await;
    assert_eq!(r.status, 404);
    let r = request(a, "GET", "/pub", &[], b"").await;
    assert_eq!(r.status, 404);
    s.shutdown().await.unwrap();
}

/// Splits a `multipart/byteranges` body into (Content-Range, data) parts,
/// checking the framing [W32-HTTPREQ] asks for: no preamble before the first
/// boundary and no part header besides Content-Type and Content-Range.
fn multipart_parts(r: &Resp) -> Vec<(String, Vec<u8>)> {
    let ct = r.header("Content-Type").expect("Content-Type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ct}"));
    let delim = format!("--{boundary}");
    assert!(r.body.starts_with(delim.as_bytes()), "no preamble");
    let close = format!("\r\n--{boundary}--\r\n");
    assert!(r.body.ends_with(close.as_bytes()), "closing delimiter");
    let mut parts = Vec::new();
    let mut rest = &r.body[delim.len()..r.body.len() - close.len() + 2];
    // Each part: "\r\n" headers "\r\n\r\n" data, then "\r\n--b" or the end.
    loop {
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head");
        assert!(rest.starts_with(b"\r\n"), "CRLF after the boundary");
        let head = String::from_utf8_lossy(&rest[2..head_end]).to_string();
        let mut range = None;
        for line in head.split("\r\n") {
            let (n, v) = line.split_once(':').expect("header line");
            match n.to_ascii_lowercase().as_str() {
                "content-type" => assert_eq!(v.trim(), "application/octet-stream"),
                "content-range" => range = Some(v.trim().to_string()),
                other => panic!("unexpected part header {other}"),
            }
        }
        let range = range.expect("Content-Range in every part");
        let (a, z) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .map(|(a, z)| (a.parse::<usize>().unwrap(), z.parse::<usize>().unwrap()))
            .expect("bytes a-z/len");
        let data_start = head_end + 4;
        let data_end = data_start + (z - a + 1);
        parts.push((range, rest[data_start..data_end].to_vec()));
        rest = &rest[data_end..];
        if rest == b"\r\n" {
            return parts;
        }
        assert!(
            rest.starts_with(format!("\r\n{delim}").as_bytes()),
            "boundary between parts"
        );
        rest = &rest[2 + delim.len()..];
    }
}

/// [W32-HTTPREQ]; RFC 9110 14.6: several ranges → 206 multipart/byteranges
/// with the parts in request order and an exact Content-Length.
#[tokio::test]
async fn multi_range_is_multipart_byteranges() {
    let (_d, s, body) = setup().await;
    let a = s.local_addr();
    let p = "/pub/file.bin";
    let r = request(
        a,
        "GET",
        p,
        &[("Range", "bytes=100000-100099, 0-9,-5")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206, "{:?}", r.headers);
    assert!(r.header("Content-Range").is_none(), "only inside the parts");
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    assert!(r.header("Last-Modified").is_some());
    let parts = multipart_parts(&r);
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].0, "bytes 100000-100099/200000");
    assert_eq!(parts[0].1, &body[100_000..100_100]);
    assert_eq!(parts[1].0, "bytes 0-9/200000");
    assert_eq!(parts[1].1, &body[..10]);
    assert_eq!(parts[2].0, "bytes 199995-199999/200000");
    assert_eq!(parts[2].1, &body[199_995..]);
    // Each response has its own boundary.
    let r2 = request(a, "GET", p, &[("Range", "bytes=0-0,2-2")], b"").await;
    assert_ne!(r.header("Content-Type"), r2.header("Content-Type"));
    assert_eq!(multipart_parts(&r2).len(), 2);
    // One satisfiable range of several: a plain single-part 206.
    let r = request(a, "GET", p, &[("Range", "bytes=300000-,10-19")], b"").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/200000"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, &body[10..20]);
    // None satisfiable: 416.
    let r = request(a, "GET", p, &[("Range", "bytes=300000-,200000-")], b"").await;
    assert_eq!(r.status, 416);
    // Overlaps adding up to more than the file: ignored (RFC 9110 14.2).
    let r = request(a, "GET", p, &[("Range", "bytes=0-,0-")], b"").await;
    assert_eq!((r.status, r.body.len()), (200, 200_000));
    // A server without multipart support (fault): 200, single ranges still 206.
    add_fault(a, r#"{"path":"/pub/","single_range_only":true}"#).await;
    let r = request(a, "GET", p, &[("Range", "bytes=0-9,20-29")], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, body.as_slice()));
    let r = request(a, "GET", p, &[("Range", "bytes=0-9")], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[..10]));
    s.shutdown().await.unwrap();
}

/// A throttled multipart body still arrives whole, and a drop fault cuts it
/// (the mid-body drop counts multipart framing bytes too).
#[tokio::test]
async fn multipart_with_throttle_and_drop() {
    let (_d, s, body) = setup().await;
    let a = s.local_addr();
    let p = "/pub/file.bin";
    add_fault(a, r#"{"path":"/pub/","bandwidth_bps":2000000,"times":1}"#).await;
    let started = std::time::Instant::now();
    let r = request(
        a,
        "GET",
        p,
        &[("Range", "bytes=0-49999,150000-199999")],
        b"",
    )
    .await;
    // 100,000 bytes at 2 MB/s cannot arrive in under 50 ms if the cap works
    // (a lower bound on behaviour, not a speed assertion).
    assert!(started.elapsed() >= std::time::Duration::from_millis(45));
    assert_eq!(r.status, 206);
    let parts = multipart_parts(&r);
    assert_eq!(parts[0].1, &body[..50_000]);
    assert_eq!(parts[1].1, &body[150_000..]);
    add_fault(a, r#"{"path":"/pub/","drop_after_bytes":60000,"times":1}"#).await;
    let mut conn = tokio::net::TcpStream::connect(a).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(
        format!("GET {p} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-49999,150000-199999\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf).await;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let announced: usize = parse(&buf)
        .header("Content-Length")
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced > 100_000);
    assert_eq!(
        buf.len() - head_end,
        60_000,
        "dropped after 60000 body bytes"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn path_escapes_are_refused_for_downloads() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(d.path().join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(d.path().join("secret"), root.join("link")).unwrap();
    std::fs::write(root.join("ok"), b"ok").unwrap();
    std::os::unix::fs::symlink(root.join("ok"), root.join("inside")).unwrap();
    let s = start(cfg(&root)).await;
    let a = s.local_addr();
    for p in [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E%2fsecret",
        "/x%5c..%5csecret",
        "/link",
        "/ok%00",
        "/.bitsim/sessions",
    ] {
        let r = request(a, "GET", p, &[], b"").await;
        assert!(r.status == 400 || r.status == 403, "{p}: {}", r.status);
        assert!(!r.body.is_empty(), "{p}: a clear error message");
    }
    // HEAD has no body: the reason is in a header.
    let r = request(a, "HEAD", "/link", &[], b"").await;
    assert_eq!(r.status, 403);
    assert!(
        r.header("X-Bitsim-Reason")
            .unwrap_or_default()
            .contains("outside the root")
    );
    // A symlink that stays inside the root is fine.
    let r = request(a, "GET", "/inside", &[], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn download_faults() {
    let (_d, s, body) = setup().await;
    let a = s.local_addr();
    let p = "/pub/file.bin";
    // Ignore Range: 200 with the whole file and no Accept-Ranges.
    add_fault(a, r#"{"path":"/pub/","ignore_range":true,"times":1}"#).await;
    let r = request(a, "GET", p, &[("Range", "bytes=0-9")], b"").await;
    assert_eq!((r.status, r.body.len()), (200, body.len()));
    assert!(r.header("Accept-Ranges").is_none());
    // Omit Content-Length: chunked.
    add_fault(
        a,
        r#"{"path":"/pub/","omit_content_length":true,"times":1}"#,
    )
    .await;
    let r = request(a, "GET", p, &[], b"").await;
    assert!(r.header("Content-Length").is_none());
    assert_eq!(r.body, body);
    // Last-Modified changes between responses while the fault is active.
    let before = request(a, "HEAD", p, &[], b"").await;
    let id = add_fault(a, r#"{"path":"/pub/","change_last_modified":true}"#).await;
    let m1 = request(a, "HEAD", p, &[], b"").await;
    let m2 = request(a, "HEAD", p, &[], b"").await;
    assert_ne!(m1.header("Last-Modified"), m2.header("Last-Modified"));
    assert_ne!(before.header("Last-Modified"), m1.header("Last-Modified"));
    let r = request(a, "DELETE", &format!("/_bitsim/faults/{id}"), &[], b"").await;
    assert_eq!(r.status, 200);
    let after = request(a, "HEAD", p, &[], b"").await;
    assert_eq!(
        before.header("Last-Modified"),
        after.header("Last-Modified")
    );
    // Status for the next 2 requests, then normal again.
    add_fault(
        a,
        r#"{"path":"/pub/","method":"GET","status":503,"times":2}"#,
    )
    .await;
    assert_eq!(request(a, "GET", p, &[], b"").await.status, 503);
    assert_eq!(request(a, "GET", p, &[], b"").await.status, 503);
    assert_eq!(request(a, "GET", p, &[], b"").await.status, 200);
    // Drop the connection mid-body: fewer bytes than Content-Length.
    add_fault(a, r#"{"path":"/pub/","drop_after_bytes":1000,"times":1}"#).await;
    let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    sock.write_all(b"GET /pub/file.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf).await;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(buf.len() - head_end, 1000, "body cut after 1000 bytes");
    // Bandwidth cap and delay: only checked for correctness, never speed.
    add_fault(
        a,
        r#"{"path":"/pub/","bandwidth_bps":1000000,"delay_ms":10,"times":1}"#,
    )
    .await;
    let r = request(a, "GET", p, &[("Range", "bytes=0-49999")], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[..50_000]));
    s.shutdown().await.unwrap();
}
