//! Keep-alive through every refusal: one TCP connection carries each
//! refused request (with a body the answer did not need) and then a valid
//! request, as a real BITS client that keeps its connection would.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::client::*;

/// One kept-alive connection: requests are written while the answer is
/// read, so a server that answers early and stops reading cannot block
/// the test.
struct Conn {
    addr: SocketAddr,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let (rd, wr) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        Conn {
            addr,
            rd,
            wr,
            buf: Vec::new(),
        }
    }

    /// Sends one request (keep-alive) and reads its answer.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let wr = &mut self.wr;
        let write = async move {
            // An error here (the server closed) shows in the answer check.
            let _ = wr.write_all(&bytes).await;
        };
        let read = read_response(&mut self.rd, &mut self.buf);
        let ((), r) =
            tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(write, read) })
                .await
                .unwrap_or_else(|_| panic!("{method} {path}: no answer within 20 s"));
        r.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    async fn bits(
        &mut self,
        path: &str,
        packet: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut h = vec![("BITS-Packet-Type", packet)];
        h.extend_from_slice(headers);
        self.send("BITS_POST", path, &h, body).await
    }

    async fn ping(&mut self) -> Resp {
        self.bits("/x", "Ping", &[], b"").await
    }

    async fn fragment(
        &mut self,
        path: &str,
        id: &str,
        start: u64,
        total: u64,
        data: &[u8],
    ) -> Resp {
        let cr = format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1);
        self.bits(
            path,
            "Fragment",
            &[("BITS-Session-Id", id), ("Content-Range", &cr)],
            data,
        )
        .await
    }
}

/// Reads one response (head + `Content-Length` body) from `rd`, keeping
/// any bytes past it in `buf`.
async fn read_response(rd: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Result<Resp, String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse(&buf[..end + 4]);
            let len: usize = head
                .header("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = rd.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut r = parse(&buf[..end + 4]);
            r.body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Ok(r);
        }
        let n = rd
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            return Err("connection closed before an answer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn one_connection_survives_every_refusal() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("exists.bin"), b"x").unwrap();
    let mut c = cfg(root.path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.max_upload_size = 10 << 20;
    c.max_fragment_size = Some(2 << 20);
    let srv = start(c).await;
    let addr = srv.local_addr();
    let big = data(1 << 20, 7);
    let id = create(addr, "/up/a.bin").await;
    let other = create(addr, "/up/b.bin").await;
    let total = 3u64 << 20;
    let payload = data(total as usize, 3);

    let mut conn = Conn::open(addr).await;
    let r = conn
        .fragment("/up/a.bin", &id, 0, total, &payload[..1 << 20])
        .await;
    assert_eq!((r.status, r.received()), (200, 1 << 20));

    // Fault rules for the refusals that need one (added on other connections).
    add_fault(
        addr,
        r#"{"path":"/flaky/","packet":"fragment","status":503}"#,
    )
    .await;
    add_fault(
        addr,
        r#"{"path":"/full/","packet":"fragment","disk_full":true}"#,
    )
    .await;
    let full = create(addr, "/full/f.bin").await;
    let flaky = create(addr, "/flaky/f.bin").await;

    let cr = |s: u64, t: u64| format!("bytes {s}-{}/{t}", s + (1 << 20) - 1);
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case<'_>> = vec![
        // A gap: 416 with the next expected byte.
        (
            "/up/a.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", id.clone()),
                ("Content-Range", cr(2 << 20, total)),
            ],
            416,
        ),
        // The total changed between fragments.
        (
            "/up/a.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", id.clone()),
                ("Content-Range", cr(1 << 20, total + 1)),
            ],
            400,
        ),
        // T > max_upload_size.
        (
            "/up/b.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", other.clone()),
                ("Content-Range", cr(0, 20 << 20)),
            ],
            500,
        ),
        // A session the server does not know, and one named at another URL.
        (
            "/up/a.bin",
            "Fragment",
            vec![
                (
                    "BITS-Session-Id",
                    "{00000000-0000-0000-0000-000000000000}".into(),
                ),
                ("Content-Range", cr(0, total)),
            ],
            500,
        ),
        (
            "/up/a.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", other.clone()),
                ("Content-Range", cr(0, total)),
            ],
            500,
        ),
        // A malformed Content-Range, and none at all.
        (
            "/up/a.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", id.clone()),
                ("Content-Range", "bytes x-y/z".into()),
            ],
            400,
        ),
        (
            "/up/a.bin",
            "Fragment",
            vec![("BITS-Session-Id", id.clone())],
            400,
        ),
        // An unknown packet type.
        (
            "/up/a.bin",
            "Frobnicate",
            vec![("BITS-Session-Id", id.clone())],
            400,
        ),
        // Fault rules: a status, a full disk.
        (
            "/flaky/f.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", flaky.clone()),
                ("Content-Range", cr(0, total)),
            ],
            503,
        ),
        (
            "/full/f.bin",
            "Fragment",
            vec![
                ("BITS-Session-Id", full.clone()),
                ("Content-Range", cr(0, total)),
            ],
            500,
        ),
        // Create-Session at a directory, over an existing file, under the
        // reserved prefix; Close-Session of an unknown session.
        (
            "/dir",
            "Create-Session",
            vec![("BITS-Supported-Protocols", PROTO.into())],
            400,
        ),
        (
            "/exists.bin",
            "Create-Session",
            vec![("BITS-Supported-Protocols", PROTO.into())],
            409,
        ),
        (
            "/_bitsim/x",
            "Create-Session",
            vec![("BITS-Supported-Protocols", PROTO.into())],
            400,
        ),
        (
            "/up/a.bin",
            "Close-Session",
            vec![(
                "BITS-Session-Id",
                "{00000000-0000-0000-0000-000000000001}".into(),
            )],
            500,
        ),
    ];
    for (path, packet, headers, status) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = conn.bits(path, packet, &h, &big).await;
        assert_eq!(r.status, *status, "{packet} {path} {headers:?}: {r:?}");
        assert_eq!(r.header("BITS-Packet-Type"), Some("Ack"), "{r:?}");
        assert!(r.header("Connection").is_none(), "{packet} {path}: {r:?}");
        let p = conn.ping().await;
        assert_eq!(p.status, 200, "ping after {packet} {path} {headers:?}");
    }

    // 413: a fragment bigger than max_fragment_size (3 MiB > 2 MiB).
    let r = conn.fragment("/up/b.bin", &other, 0, total, &payload).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(conn.ping().await.status, 200);
    // Not BITS: a PUT (405), a GET of a refused path (400), a fault rule
    // whose JSON is wrong (400); each with a body.
    assert_eq!(conn.send("PUT", "/up/a.bin", &[], &big).await.status, 405);
    assert_eq!(conn.ping().await.status, 200);
    assert_eq!(conn.send("GET", "/a/%2e%2e/x", &[], &big).await.status, 400);
    assert_eq!(conn.ping().await.status, 200);
    let r = conn
        .send("POST", "/_bitsim/faults", &[], b"{not json")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(conn.ping().await.status, 200);
    // A duplicate is re-acknowledged, and the upload goes on on the same
    // connection from where the server says it is.
    let r = conn
        .fragment("/up/a.bin", &id, 0, total, &payload[..1 << 20])
        .await;
    assert_eq!((r.status, r.received()), (200, 1 << 20));
    let mut off = r.received();
    while off < total {
        let end = (off + (1 << 20)).min(total);
        let r = conn
            .fragment(
                "/up/a.bin",
                &id,
                off,
                total,
                &payload[off as usize..end as usize],
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        off = r.received();
    }
    let r = conn
        .bits(
            "/up/a.bin",
            "Close-Session",
            &[("BITS-Session-Id", &id)],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(std::fs::read(root.path().join("up/a.bin")).unwrap() == payload);
    srv.shutdown().await.unwrap();
}

/// A body past `max_discard_bytes` is not read: its answer says
/// `Connection: close` (and arrives whole), so the client knows to
/// reconnect instead of meeting a reset.
#[tokio::test]
async fn a_body_past_the_discard_bound_gets_connection_close() {
    let root = tempfile::tempdir().unwrap();
    let mut c = cfg(root.path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.max_discard_bytes = 1 << 20;
    let srv = start(c).await;
    let addr = srv.local_addr();
    let id = create(addr, "/a.bin").await;
    let mut conn = Conn::open(addr).await;
    // Within the bound: kept alive.
    let r = conn
        .fragment("/a.bin", &id, 100, 1 << 30, &data(1 << 20, 1))
        .await;
    assert_eq!(r.status, 416);
    assert!(r.header("Connection").is_none(), "{r:?}");
    assert_eq!(conn.ping().await.status, 200);
    // Past it: Connection: close, then the server closes.
    let r = conn
        .fragment("/a.bin", &id, 100, 1 << 30, &data(4 << 20, 1))
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.received(), 0);
    assert_eq!(r.header("Connection"), Some("close"), "{r:?}");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.rd.read_to_end(&mut rest)).await;
    srv.shutdown().await.unwrap();
}
