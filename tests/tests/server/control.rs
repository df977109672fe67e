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
    let r = bits(
        a,
        "/z",
        "Create-Session",
        &[("BITS-Supported-Protocols", PROTO)],
        b"",
    )
    .await;
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
