//! [MC-BUP] packet rules.

use crate::client::*;

#[tokio::test]
async fn ping_acks_with_empty_body() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let r = bits(s.local_addr(), "/x", "Ping", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert!(r.error_code().is_none());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn post_with_method_override_and_any_case_packet() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let r = request(
        a,
        "POST",
        "/x",
        &[
            ("X-Http-Method-Override", "BITS_POST"),
            ("BITS-Packet-Type", "PING"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"));
    let r = bits(
        a,
        "/x",
        "CREATE-SESSION",
        &[("BITS-Supported-Protocols", PROTO)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // Plain POST without the override is not BITS.
    let r = request(a, "POST", "/x", &[("BITS-Packet-Type", "Ping")], b"").await;
    assert_eq!(r.status, 405);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_session_negotiates_protocol() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    for list in [
        PROTO.to_string(),
        format!(
            "{{11111111-2222-3333-4444-555555555555}},{}",
            PROTO.to_uppercase()
        ),
        format!("{{11111111-2222-3333-4444-555555555555}} {PROTO}"),
    ] {
        let r = bits(
            a,
            "/f",
            "Create-Session",
            &[("BITS-Supported-Protocols", &list)],
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{list}");
        assert_eq!(r.header("BITS-Protocol"), Some(PROTO));
        assert_eq!(r.header("Accept-Encoding"), Some("identity"));
        let id = r.header("BITS-Session-Id").unwrap();
        // {GUID} in braces, 38 chars, hex + dashes.
        assert_eq!(id.len(), 38, "{id}");
        assert!(id.starts_with('{') && id.ends_with('}'));
    }
    let r = bits(
        a,
        "/f",
        "Create-Session",
        &[(
            "BITS-Supported-Protocols",
            "{11111111-2222-3333-4444-555555555555}",
        )],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("0x80070057"));
    assert_eq!(r.header("BITS-Error-Context"), Some("0x5"));
    assert!(r.header("BITS-Protocol").is_none());
    let r = bits(a, "/f", "Create-Session", &[], b"").await;
    assert_eq!(r.status, 400);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn session_ids_are_unique() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        assert!(seen.insert(create(s.local_addr(), "/u").await));
    }
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_400_e_invalidarg() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/f").await;
    // Unknown packet type.
    let r = bits(a, "/f", "Ack", &[], b"").await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"));
    // Missing packet type.
    let r = request(a, "BITS_POST", "/f", &[], b"").await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    // Header over 4 KB.
    let big = "x".repeat(5000);
    let r = bits(a, "/f", "Ping", &[("X-Big", &big)], b"").await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    // Missing Content-Length (chunked body instead).
    let r = raw(
        a,
        b"BITS_POST /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\nBITS-Packet-Type: Ping\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    // Invalid Content-Range forms.
    for cr in [
        "bytes 5-4/10",
        "bytes 0-10/10",
        "bytes x-1/10",
        "0-1/10",
        "bytes 0-1/*",
    ] {
        let r = bits(
            a,
            "/f",
            "Fragment",
            &[("BITS-Session-Id", &id), ("Content-Range", cr)],
            b"ab",
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, Some("0x80070057")),
            "{cr}"
        );
    }
    // Missing Content-Range.
    let r = bits(a, "/f", "Fragment", &[("BITS-Session-Id", &id)], b"ab").await;
    assert_eq!(r.status, 400);
    // Body length differs from the range.
    let r = bits(
        a,
        "/f",
        "Fragment",
        &[("BITS-Session-Id", &id), ("Content-Range", "bytes 0-2/10")],
        b"ab",
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    // Fragment without a session id.
    let r = bits(
        a,
        "/f",
        "Fragment",
        &[("Content-Range", "bytes 0-1/10")],
        b"ab",
    )
    .await;
    assert_eq!(r.status, 400);
    // The session is still usable after all that.
    let r = fragment(a, "/f", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.received()), (200, 4));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_session_is_500_session_not_found() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let bogus = "{00000000-0000-0000-0000-000000000000}";
    let r = fragment(a, "/f", bogus, 0, 2, b"ab").await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x8020001F")));
    assert_eq!(r.header("BITS-Error-Context"), Some("0x5"));
    assert_eq!(
        r.header("X-Bitsim-Reason"),
        Some(format!("session {bogus:?} not found").as_str())
    );
    assert_eq!((close(a, "/f", bogus).await.status), 500);
    assert_eq!(
        (cancel(a, "/f", bogus)
            .await
            .error_code()
            .map(str::to_string)),
        Some("0x8020001F".into())
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn simple_upload_is_published_on_close_only() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let body = data(100_000, 1);
    let id = create(a, "/dir/sub/file.bin").await;
    let r = fragment(a, "/dir/sub/file.bin", &id, 0, 100_000, &body[..60_000]).await;
    assert_eq!((r.status, r.received()), (200, 60_000));
    assert_eq!(r.header("BITS-Session-Id"), Some(id.as_str()));
    assert!(r.header("BITS-Reply-URL").is_none());
    let r = fragment(
        a,
        "/dir/sub/file.bin",
        &id,
        60_000,
        100_000,
        &body[60_000..],
    )
    .await;
    assert_eq!((r.status, r.received()), (200, 100_000));
    assert!(
        !d.path().join("dir/sub/file.bin").exists(),
        "nothing published before Close-Session"
    );
    let r = close(a, "/dir/sub/file.bin", &id).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("BITS-Session-Id"), Some(id.as_str()));
    assert_eq!(
        std::fs::read(d.path().join("dir/sub/file.bin")).unwrap(),
        body
    );
    // The session is gone.
    assert_eq!(
        fragment(a, "/dir/sub/file.bin", &id, 0, 100_000, &body[..10])
            .await
            .status,
        500
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn gap_overlap_duplicate_and_total_change() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/g").await;
    let r = fragment(a, "/g", &id, 0, 300, &[b'A'; 101]).await; // 0..=100
    assert_eq!(r.received(), 101);
    // Gap: 416 + next expected offset.
    let r = fragment(a, "/g", &id, 150, 300, &[b'X'; 10]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.received(), 101);
    assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"));
    assert_eq!(
        r.header("X-Bitsim-Reason"),
        Some("fragment starts at byte 150 but the server expects byte 101")
    );
    // Overlap 50..=150: only 101..=150 is written, 50..=100 keeps 'A'.
    let r = fragment(a, "/g", &id, 50, 300, &[b'B'; 101]).await;
    assert_eq!((r.status, r.received()), (200, 151));
    // Full duplicate: re-Ack the current offset, nothing written.
    let r = fragment(a, "/g", &id, 0, 300, &[b'Z'; 100]).await;
    assert_eq!((r.status, r.received()), (200, 151));
    // The total may not change.
    let r = fragment(a, "/g", &id, 151, 400, &[b'C'; 149]).await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    assert_eq!(r.received(), 151, "every Fragment Ack carries the offset");
    let r = fragment(a, "/g", &id, 151, 300, &[b'C'; 149]).await;
    assert_eq!((r.status, r.received()), (200, 300));
    assert_eq!(close(a, "/g", &id).await.status, 200);
    let got = std::fs::read(d.path().join("g")).unwrap();
    let mut want = vec![b'A'; 101];
    want.extend_from_slice(&[b'B'; 50]);
    want.extend_from_slice(&[b'C'; 149]);
    assert_eq!(got, want);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn strict_mode_refuses_overlaps() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.strict_fragments = true;
    let s = start(c).await;
    let a = s.local_addr();
    let id = create(a, "/g").await;
    fragment(a, "/g", &id, 0, 20, &[1; 10]).await;
    let r = fragment(a, "/g", &id, 5, 20, &[2; 10]).await;
    assert_eq!((r.status, r.received()), (416, 10));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn close_before_complete_publishes_nothing_and_cancel_deletes() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/p").await;
    fragment(a, "/p", &id, 0, 20, &[1; 10]).await;
    assert_eq!(close(a, "/p", &id).await.status, 200);
    assert!(!d.path().join("p").exists());
    let id = create(a, "/q").await;
    fragment(a, "/q", &id, 0, 10, &[1; 10]).await;
    assert_eq!(cancel(a, "/q", &id).await.status, 200);
    assert!(!d.path().join("q").exists());
    assert_eq!(close(a, "/q", &id).await.status, 500);
    // No temporary data left behind.
    let left: Vec<_> = std::fs::read_dir(d.path().join(".bitsim/sessions"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_upload_size_is_500_too_large() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_upload_size = 1000;
    let s = start(c).await;
    let a = s.local_addr();
    let id = create(a, "/big").await;
    let r = fragment(a, "/big", &id, 0, 1001, &[0; 10]).await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x80200020")));
    assert_eq!(r.received(), 0, "every Fragment Ack carries the offset");
    let r = fragment(a, "/big", &id, 0, 1000, &[0; 10]).await;
    assert_eq!(r.status, 200);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn overwrite_rules() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("exists"), b"old").unwrap();
    std::fs::create_dir(d.path().join("adir")).unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let r = create_session(a, "/exists").await;
    assert_eq!((r.status, r.error_code()), (409, Some("0x80070005")));
    let r = create_session(a, "/adir").await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    // Two sessions race to the same new name: the second Close gets 409.
    let id1 = create(a, "/race").await;
    let id2 = create(a, "/race").await;
    fragment(a, "/race", &id1, 0, 1, b"1").await;
    fragment(a, "/race", &id2, 0, 1, b"2").await;
    assert_eq!(close(a, "/race", &id1).await.status, 200);
    let r = close(a, "/race", &id2).await;
    assert_eq!((r.status, r.error_code()), (409, Some("0x80070005")));
    assert_eq!(std::fs::read(d.path().join("race")).unwrap(), b"1");
    s.shutdown().await.unwrap();

    let mut c = cfg(d.path());
    c.allow_overwrite = true;
    let s = start(c).await;
    let r = upload(s.local_addr(), "/exists", b"new!", 2).await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(d.path().join("exists")).unwrap(), b"new!");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn disk_full_fault_is_500_disk_full() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/f").await;
    add_fault(a, r#"{"packet":"fragment","disk_full":true,"times":1}"#).await;
    let r = fragment(a, "/f", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x80070112")));
    assert_eq!(r.received(), 0, "every Fragment Ack carries the offset");
    let r = fragment(a, "/f", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.received()), (200, 4));
    s.shutdown().await.unwrap();
}

/// A real ENOSPC from the kernel, not the fault: the session's data file
/// is swapped for a link to /dev/full, where every write fails with it.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_real_full_disk_is_500_disk_full() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/full").await;
    let key = id.trim_matches(|c| c == '{' || c == '}').to_lowercase();
    let file = d.path().join(format!(".bitsim/sessions/{key}.data"));
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    let r = fragment(a, "/full", &id, 0, 300_000, &data(300_000, 1)).await;
    assert_eq!(
        (r.status, r.error_code()),
        (500, Some("0x80070112")),
        "{r:?}"
    );
    assert_eq!(r.header("X-Bitsim-Reason"), Some("disk full"));
    assert_eq!(r.received(), 0, "nothing acknowledged");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn path_escapes_are_refused_for_uploads() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::symlink(d.path(), root.join("out")).unwrap();
    // Dangling links out of the root, to a file and to a directory: they
    // point nowhere now, but a file could appear there later.
    std::os::unix::fs::symlink(d.path().join("newfile"), root.join("dangling")).unwrap();
    std::os::unix::fs::symlink(d.path().join("newdir"), root.join("danglingdir")).unwrap();
    let s = start(cfg(&root)).await;
    let a = s.local_addr();
    for (p, why) in [
        ("/../x", "'..'"),
        ("/a/%2e%2e/%2e%2e/x", "'..'"),
        ("/a/.%2E/x", "'..'"),
        ("/a%5cb", "backslash"),
        ("/a%2fb", "encoded slash"),
        ("/a%2F..%2Fx", "encoded slash"),
        ("/a%00b", "NUL"),
        ("/out/x", "outside the root"),
        ("/dangling", "points nowhere"),
        ("/danglingdir/x", "points nowhere"),
        ("/.bitsim/sessions/x", "reserved"),
        ("/%5Fbitsim/x", "reserved"),
        ("/C:/x", "':'"),
    ] {
        let r = create_session(a, p).await;
        assert!(r.status == 400 || r.status == 403, "{p}: {r:?}");
        assert!(r.error_code().is_some(), "{p}");
        // The Ack has no body, so the reason travels in a header.
        let reason = r.header("X-Bitsim-Reason").unwrap_or_default();
        assert!(reason.contains(why), "{p}: {reason:?}");
    }
    // Double encoding decodes once: `%252e%252e` is the literal name
    // "%2e%2e", a file inside the root, not a way up.
    let r = upload(a, "/a/%252e%252e/x", b"inside", 100).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(std::fs::read(root.join("a/%2e%2e/x")).unwrap(), b"inside");
    for link in ["newfile", "newdir"] {
        assert!(
            !d.path().join(link).exists(),
            "{link} created out of the root"
        );
    }
    // A raw backslash in the request target.
    let r = raw(a, b"BITS_POST /a\\..\\x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\nContent-Length: 0\r\n\r\n").await;
    assert!(r.status == 400, "{r:?}");
    assert!(!d.path().join("x").exists());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn keep_alive_connection_survives_unread_bodies() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/k").await;
    let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
    // A gap fragment (answered 416 without reading the body) whose body
    // looks like a request: it must never be parsed as one.
    let evil = b"BITS_POST /evil HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\nContent-Length: 0\r\n\r\n";
    let head = format!(
        "BITS_POST /k HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes 50-{}/1000\r\nContent-Length: {}\r\n\r\n",
        50 + evil.len() - 1,
        evil.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(evil).await.unwrap();
    sock.write_all(b"BITS_POST /k HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 416"), "{text}");
    assert!(
        !text.contains("bits-protocol"),
        "the body was parsed as a request: {text}"
    );
    // Either the connection was closed after the 416 or the Ping was answered.
    assert!(text.matches("HTTP/1.1 ").count() <= 2, "{text}");
    assert!(!d.path().join("evil").exists());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn content_encoding_must_be_identity() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/enc").await;
    let h = [
        ("BITS-Session-Id", id.as_str()),
        ("Content-Range", "bytes 0-1/2"),
        ("Content-Encoding", "gzip"),
    ];
    let r = bits(a, "/enc", "Fragment", &h, b"ab").await;
    assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")));
    let h = [
        ("BITS-Session-Id", id.as_str()),
        ("Content-Range", "bytes 0-1/2"),
        ("Content-Encoding", "identity"),
        ("Content-Name", "ignored.txt"),
    ];
    assert_eq!(bits(a, "/enc", "Fragment", &h, b"ab").await.status, 200);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_never_takes_the_server_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/g").await;
    // A deterministic xorshift stream of hostile requests.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: [&[u8]; 12] = [
        b"BITS_POST ",
        b"/g ",
        b"/%2e%2e/%00 ",
        b"HTTP/1.1\r\n",
        b"BITS-Packet-Type: Fragment\r\n",
        b"BITS-Packet-Type: cReAtE-sEsSiOn\r\n",
        b"Content-Range: bytes 0-3/4\r\n",
        b"Content-Range: bytes 18446744073709551615-1/0\r\n",
        b"Content-Length: 4\r\n",
        b"Content-Length: -1\r\n",
        b"\r\n",
        b"\xff\xfe\x00abcd",
    ];
    for _ in 0..150 {
        let mut req = Vec::new();
        for _ in 0..(next() % 10) {
            req.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        if next() % 2 == 0 {
            req.extend_from_slice(format!("BITS-Session-Id: {id}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n\r\nabcd");
        let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
        let _ = sock.write_all(&req).await;
        let _ = sock.shutdown().await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            sock.read_to_end(&mut buf),
        )
        .await;
    }
    assert_eq!(bits(a, "/g", "Ping", &[], b"").await.status, 200);
    // The session is still consistent: a duplicate probe re-Acks its offset.
    let r = fragment(a, "/g", &id, 0, 4, b"abcd").await;
    assert!(r.status == 200 || r.status == 400, "{r:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn fragment_too_big_is_413_and_host_id_is_sent() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_fragment_size = Some(8);
    c.host_id = Some("farm-node-7".into());
    c.host_id_fallback_timeout_secs = Some(86_400);
    let s = start(c).await;
    let a = s.local_addr();
    let r = create_session(a, "/h").await;
    assert_eq!(r.header("BITS-Host-Id"), Some("farm-node-7"));
    assert_eq!(r.header("BITS-Host-Id-Fallback-Timeout"), Some("86400"));
    let id = r.header("BITS-Session-Id").unwrap().to_string();
    let r = fragment(a, "/h", &id, 0, 12, b"0123456789ab").await;
    assert_eq!((r.status, r.received()), (413, 0));
    let r = fragment(a, "/h", &id, 0, 12, b"01234567").await;
    assert_eq!((r.status, r.received()), (200, 8));
    let r = fragment(a, "/h", &id, 8, 12, b"89ab").await;
    assert_eq!(r.received(), 12);
    assert_eq!(close(a, "/h", &id).await.status, 200);
    assert_eq!(std::fs::read(d.path().join("h")).unwrap(), b"0123456789ab");
    s.shutdown().await.unwrap();
}

/// A session belongs to the URL it was created for: a packet naming it at
/// another URL finds no session and changes nothing (bitsim's decision,
/// README "Decisions"); another spelling of the same path is the same URL.
#[tokio::test]
async fn a_session_belongs_to_its_url() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/mine.bin").await;
    let r = fragment(a, "/other.bin", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x8020001F")));
    assert!(
        r.header("X-Bitsim-Reason")
            .unwrap_or_default()
            .contains("belongs to")
    );
    let r = fragment(a, "/%6Dine.bin", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.received()), (200, 4), "same path, encoded");
    assert_eq!(close(a, "/other.bin", &id).await.status, 500);
    assert_eq!(cancel(a, "/other.bin", &id).await.status, 500);
    assert!(!d.path().join("other.bin").exists());
    assert_eq!(close(a, "/mine.bin", &id).await.status, 200);
    assert_eq!(std::fs::read(d.path().join("mine.bin")).unwrap(), b"abcd");
    s.shutdown().await.unwrap();
}

/// Uploads that could never be published are refused at Create-Session,
/// with an Ack a BITS client understands.
#[tokio::test]
async fn unpublishable_destinations_are_refused_up_front() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("file.bin"), b"x").unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    for (p, why) in [
        ("/file.bin/x", "file.bin is a file"),
        ("/file.bin/deeper/x", "file.bin is a file"),
        ("/_bitsim/x", "reserved"),
        ("/_bitsim/faults", "reserved"),
    ] {
        let r = create_session(a, p).await;
        assert_eq!((r.status, r.error_code()), (400, Some("0x80070057")), "{p}");
        assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"), "{p}");
        let reason = r.header("X-Bitsim-Reason").unwrap_or_default();
        assert!(reason.contains(why), "{p}: {reason}");
    }
    assert_eq!(
        request(a, "GET", "/_bitsim/faults", &[], b"").await.status,
        200,
        "the control API itself still answers"
    );
    s.shutdown().await.unwrap();
}
