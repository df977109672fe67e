//! The control API under /_bitsim/.

use crate::client::*;

#[tokio::test]
async fn faults_crud_and_sessions_list() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = add_fault(
        a,
        r#"{"packet":"ping","status":500,"error_code":"0x80200020"}"#,
    )
    .await;
    let r = bits(a, "/x", "Ping", &[], b"").await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x80200020")));
    let r = bits(a, "/x", "Ping", &[], b"").await;
    assert_eq!(r.status, 500, "rule without `times` stays");
    let list = request(a, "GET", "/_bitsim/faults", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(v[0]["id"].as_u64(), Some(id));
    assert_eq!(
        request(a, "DELETE", "/_bitsim/faults", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(bits(a, "/x", "Ping", &[], b"").await.status, 200);
    assert_eq!(
        request(a, "DELETE", "/_bitsim/faults/999", &[], b"")
            .await
            .status,
        404
    );
    // Bad JSON and unknown fields are 400.
    let r = request(a, "POST", "/_bitsim/faults", &[], b"{nope").await;
    assert_eq!(r.status, 400);
    let r = request(a, "POST", "/_bitsim/faults", &[], br#"{"stauts":500}"#).await;
    assert_eq!(r.status, 400);
    // Default BITS-Error-Code for a status fault: BG_E_HTTP_ERROR_xxx.
    add_fault(a, r#"{"path":"/y","status":503,"times":1}"#).await;
    let r = bits(a, "/y", "Ping", &[], b"").await;
    assert_eq!((r.status, r.error_code()), (503, Some("0x801901F7")));
    // Sessions list.
    let sid = create(a, "/up").await;
    fragment(a, "/up", &sid, 0, 10, &[1; 4]).await;
    let r = request(a, "GET", "/_bitsim/sessions", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v[0]["id"].as_str(), Some(sid.as_str()));
    assert_eq!(v[0]["received"].as_u64(), Some(4));
    assert_eq!(v[0]["total"].as_u64(), Some(10));
    assert_eq!(
        request(a, "GET", "/_bitsim/nope", &[], b"").await.status,
        404
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_from_config_and_for_fragments() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.faults = bitsim_server::Config::from_toml(
        r#"
        [[faults]]
        path = "/flaky"
        packet = "Fragment"
        status = 503
        times = 1
        "#,
    )
    .unwrap()
    .faults;
    let s = start(c).await;
    let a = s.local_addr();
    let id = create(a, "/flaky").await;
    let r = fragment(a, "/flaky", &id, 0, 4, b"abcd").await;
    assert_eq!(r.status, 503);
    let r = fragment(a, "/flaky", &id, 0, 4, b"abcd").await;
    assert_eq!((r.status, r.received()), (200, 4));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropped_fragment_leaves_a_consistent_session() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let body = data(1_000_000, 3);
    let id = create(a, "/drop").await;
    let r = fragment(a, "/drop", &id, 0, 1_000_000, &body[..100_000]).await;
    assert_eq!(r.received(), 100_000);
    // Server drops the connection after 50,000 bytes of the next fragment.
    add_fault(
        a,
        r#"{"packet":"fragment","drop_after_bytes":50000,"times":1}"#,
    )
    .await;
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        async {
            let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let head = format!("BITS_POST /drop HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes 100000-299999/1000000\r\nContent-Length: 200000\r\n\r\n");
            sock.write_all(head.as_bytes()).await.unwrap();
            let _ = sock.write_all(&body[100_000..300_000]).await;
            let mut buf = Vec::new();
            let _ = sock.read_to_end(&mut buf).await;
            buf
        },
    )
    .await
    .unwrap();
    assert!(r.is_empty(), "no response on a dropped connection");
    // A client that itself disconnects mid-fragment.
    {
        let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
        use tokio::io::AsyncWriteExt;
        let head = format!(
            "BITS_POST /drop HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes 100000-299999/1000000\r\nContent-Length: 200000\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&[0xEE; 70_000]).await.unwrap(); // garbage that must never count
    }
    // The session is still at 100,000 (or already past, never corrupted).
    let r = fragment(a, "/drop", &id, 100_000, 1_000_000, &body[100_000..400_000]).await;
    assert_eq!((r.status, r.received()), (200, 400_000));
    let r = fragment(a, "/drop", &id, 400_000, 1_000_000, &body[400_000..]).await;
    assert_eq!(r.received(), 1_000_000);
    assert_eq!(close(a, "/drop", &id).await.status, 200);
    assert_eq!(std::fs::read(d.path().join("drop")).unwrap(), body);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn control_api_can_be_disabled() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.control.disabled = true;
    let s = start(c).await;
    let a = s.local_addr();
    let r = request(a, "POST", "/_bitsim/faults", &[], br#"{"status":500}"#).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        request(a, "GET", "/_bitsim/sessions", &[], b"")
            .await
            .status,
        404
    );
    assert_eq!(bits(a, "/x", "Ping", &[], b"").await.status, 200);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn status_fault_on_create_session_and_delay() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    add_fault(
        a,
        r#"{"packet":"create-session","status":501,"error_code":"0x80070005","times":1}"#,
    )
    .await;
    let r = create_session(a, "/z").await;
    assert_eq!((r.status, r.error_code()), (501, Some("0x80070005")));
    assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"));
    add_fault(a, r#"{"packet":"create-session","delay_ms":20,"times":1}"#).await;
    create(a, "/z").await;
    // Drop before any response.
    add_fault(a, r#"{"packet":"ping","drop_after_bytes":0,"times":1}"#).await;
    let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    sock.write_all(
        b"BITS_POST /z HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf).await;
    assert!(buf.is_empty());
    assert_eq!(bits(a, "/z", "Ping", &[], b"").await.status, 200);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn fault_rules_that_could_never_act_are_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    for (rule, why) in [
        (r#"{"status":1000}"#, "200-599"),
        (r#"{"status":100}"#, "200-599"),
        (r#"{"status":503,"error_code":"bogus"}"#, "HRESULT"),
        (r#"{"packet":"fragmnt","status":503}"#, "packet"),
        (r#"{"path":"pub/","status":503}"#, "must start with '/'"),
        (r#"{"path":"/pub/"}"#, "no effect"),
        (r#"{"status":503,"times":0}"#, "times = 0"),
        (r#"{"bandwidth_bps":0}"#, "bandwidth_bps = 0"),
        (
            r#"{"error_code":"0x8020001F","delay_ms":5}"#,
            "set status too",
        ),
    ] {
        let r = request(a, "POST", "/_bitsim/faults", &[], rule.as_bytes()).await;
        assert_eq!(r.status, 400, "{rule}: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{rule}: {error}");
    }
    let list = request(a, "GET", "/_bitsim/faults", &[], b"").await;
    assert_eq!(list.body, b"[]", "nothing was added");
    // What validation accepts also matches: a packet type with spaces
    // around it is still that packet type.
    add_fault(a, r#"{"packet":" ping ","status":503,"times":1}"#).await;
    assert_eq!(bits(a, "/x", "Ping", &[], b"").await.status, 503);
    s.shutdown().await.unwrap();
}

/// The control API is for this host only: loopback peers, including IPv4
/// loopback seen through a dual-stack `[::]` socket, and nobody else.
#[tokio::test]
async fn control_api_answers_loopback_peers_only() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    // Dual-stack where the host has IPv6, IPv4 only where it has not.
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    c.listen = if ipv6 { "[::]:0" } else { "0.0.0.0:0" }.parse().unwrap();
    let s = start(c).await;
    let port = s.local_addr().port();
    let hosts: &[&str] = if ipv6 {
        &["127.0.0.1", "::1"]
    } else {
        &["127.0.0.1"]
    };
    for host in hosts {
        let addr = std::net::SocketAddr::new(host.parse().unwrap(), port);
        let r = request(addr, "GET", "/_bitsim/faults", &[], b"").await;
        assert_eq!(r.status, 200, "{host}: {r:?}");
    }
    // This host's own non-loopback address (the one its default route
    // uses) is a remote peer as far as the server can tell.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let own = probe
        .connect("192.0.2.1:9")
        .and_then(|()| probe.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    match own {
        Some(ip) => {
            let addr = std::net::SocketAddr::new(ip, port);
            let r = request(addr, "GET", "/_bitsim/faults", &[], b"").await;
            assert_eq!(r.status, 403, "{ip}: {r:?}");
            assert!(String::from_utf8_lossy(&r.body).contains("loopback-only"));
            // BITS itself is for every client.
            assert_eq!(bits(addr, "/x", "Ping", &[], b"").await.status, 200);
        }
        None => eprintln!("no non-loopback IPv4 address here: remote refusal not checked"),
    }
    s.shutdown().await.unwrap();
}

/// A session in the middle of a fragment is listed with its path, its
/// acknowledged offset and the bytes of the fragment received so far.
#[tokio::test]
async fn sessions_list_shows_a_fragment_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/slow/up.bin").await;
    assert_eq!(
        fragment(a, "/slow/up.bin", &id, 0, 1000, &[7; 100])
            .await
            .received(),
        100
    );
    let mut sock = tokio::net::TcpStream::connect(a).await.unwrap();
    let head = format!(
        "BITS_POST /slow/up.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes 100-999/1000\r\nContent-Length: 900\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&[8; 300]).await.unwrap();
    let list = || async {
        let r = request(a, "GET", "/_bitsim/sessions", &[], b"").await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v[0].clone()
    };
    let mut entry = list().await;
    for _ in 0..500 {
        if entry["fragment_bytes"].as_u64() == Some(300) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        entry = list().await;
    }
    assert_eq!(entry["busy"].as_bool(), Some(true), "{entry}");
    assert_eq!(entry["id"].as_str(), Some(id.as_str()), "{entry}");
    assert_eq!(entry["path"].as_str(), Some("/slow/up.bin"), "{entry}");
    assert_eq!(entry["total"].as_u64(), Some(1000), "{entry}");
    assert_eq!(entry["received"].as_u64(), Some(100), "{entry}");
    assert_eq!(entry["fragment_bytes"].as_u64(), Some(300), "{entry}");
    sock.write_all(&[8; 600]).await.unwrap();
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf).await.unwrap();
    assert_eq!(parse(&buf).received(), 1000);
    let entry = list().await;
    assert_eq!(entry["busy"].as_bool(), Some(false), "{entry}");
    assert_eq!(entry["received"].as_u64(), Some(1000), "{entry}");
    assert_eq!(entry["fragment_bytes"].as_u64(), Some(0), "{entry}");
    s.shutdown().await.unwrap();
}

/// A certificate fault needs a server whose CA can sign the faulty
/// certificate: on a plain server (or one with its own certificate) it is
/// refused with the reason, over the control API and in the config file.
#[tokio::test]
async fn tls_cert_faults_need_a_self_signed_server() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let r = request(
        s.local_addr(),
        "POST",
        "/_bitsim/faults",
        &[],
        br#"{"tls_cert":"expired"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("--tls-self-signed"),
        "{r:?}"
    );
    s.shutdown().await.unwrap();
    let e = bitsim_server::Config::from_toml("[[faults]]\ntls_cert = \"wrong-host\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("self_signed"), "{e}");
    bitsim_server::Config::from_toml(
        "[tls]\nself_signed = true\n[[faults]]\ntls_cert = \"wrong-host\"\n",
    )
    .expect("allowed with a self-signed certificate");
}
