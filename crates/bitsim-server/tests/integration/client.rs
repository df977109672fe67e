//! A tiny raw HTTP/1.1 client over `TcpStream` (one request per connection).

use std::net::SocketAddr;
use std::path::Path;

use bitsim_server::{Config, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PROTO: &str = bitsim_server::parse::BITS_1_5_PROTOCOL;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn received(&self) -> u64 {
        self.header("BITS-Received-Content-Range")
            .and_then(|v| v.parse().ok())
            .expect("BITS-Received-Content-Range")
    }
    pub fn error_code(&self) -> Option<&str> {
        self.header("BITS-Error-Code")
    }
}

pub async fn start(cfg: Config) -> ServerHandle {
    Server::bind(cfg).await.expect("bind").spawn()
}

pub fn cfg(root: &Path) -> Config {
    Config::new(root)
}

/// Sends raw bytes and reads the whole response (the server closes because
/// requests say `Connection: close`).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    parse(&buf)
}

pub fn parse(buf: &[u8]) -> Resp {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete response head");
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "HTTP/1.1 required: {status_line}"
    );
    let status = status_line[9..12].parse().expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 2 + n + 2..];
    }
    out
}

/// A request with the given headers; `Content-Length` is added from the
/// body unless `headers` already has one or `no_cl` is set.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    }) {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).await
}

pub async fn bits(
    addr: SocketAddr,
    path: &str,
    packet: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut h = vec![("BITS-Packet-Type", packet)];
    h.extend_from_slice(headers);
    request(addr, "BITS_POST", path, &h, body).await
}

/// A Create-Session offering the BITS 1.5 upload protocol, whatever the
/// answer.
pub async fn create_session(addr: SocketAddr, path: &str) -> Resp {
    bits(
        addr,
        path,
        "Create-Session",
        &[("BITS-Supported-Protocols", PROTO)],
        b"",
    )
    .await
}

/// A Create-Session that must succeed; returns the session id.
pub async fn create(addr: SocketAddr, path: &str) -> String {
    let r = create_session(addr, path).await;
    assert_eq!(r.status, 200, "create-session: {r:?}");
    r.header("BITS-Session-Id").expect("session id").to_string()
}

pub async fn fragment(
    addr: SocketAddr,
    path: &str,
    id: &str,
    start: u64,
    total: u64,
    data: &[u8],
) -> Resp {
    let end = start + data.len() as u64 - 1;
    let cr = format!("bytes {start}-{end}/{total}");
    bits(
        addr,
        path,
        "Fragment",
        &[("BITS-Session-Id", id), ("Content-Range", &cr)],
        data,
    )
    .await
}

pub async fn close(addr: SocketAddr, path: &str, id: &str) -> Resp {
    bits(addr, path, "Close-Session", &[("BITS-Session-Id", id)], b"").await
}

pub async fn cancel(addr: SocketAddr, path: &str, id: &str) -> Resp {
    bits(
        addr,
        path,
        "Cancel-Session",
        &[("BITS-Session-Id", id)],
        b"",
    )
    .await
}

/// Uploads `data` in fragments of `frag` bytes and closes the session.
pub async fn upload(addr: SocketAddr, path: &str, data: &[u8], frag: usize) -> Resp {
    let id = create(addr, path).await;
    let total = data.len() as u64;
    let mut off = 0usize;
    while off < data.len() {
        let end = (off + frag).min(data.len());
        let r = fragment(addr, path, &id, off as u64, total, &data[off..end]).await;
        assert_eq!(r.status, 200, "fragment: {r:?}");
        off = r.received() as usize;
    }
    close(addr, path, &id).await
}

/// Deterministic test data.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub async fn add_fault(addr: SocketAddr, json: &str) -> u64 {
    let r = request(
        addr,
        "POST",
        "/_bitsim/faults",
        &[("Content-Type", "application/json")],
        json.as_bytes(),
    )
    .await;
    assert_eq!(
        r.status,
        201,
        "add fault: {r:?} {}",
        String::from_utf8_lossy(&r.body)
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["id"].as_u64().expect("id")
}
