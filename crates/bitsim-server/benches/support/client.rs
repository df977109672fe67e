//! A blocking BITS upload client for the benchmark and the examples: one
//! keep-alive connection, one request at a time, as a BITS client sends
//! them (the next fragment only after the Ack). Blocking `std::net` on the
//! caller's thread, so it never borrows the server's async workers.

use std::io::{IoSlice, Read, Write};
use std::net::SocketAddr;

use bitsim_server::parse::BITS_1_5_PROTOCOL as PROTO;

/// Sends one request on a keep-alive connection and returns the Ack's
/// head (Acks have `Content-Length: 0`, so it ends at the blank line).
///
/// Head and body go out in one `writev`, as HTTP clients that know the
/// body up front send them (and as the ping-pong client sends its
/// fragments): two writes would wake the server for the head alone and
/// again for the body.
fn send(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, head: &str, body: &[u8]) -> String {
    let mut parts = [IoSlice::new(head.as_bytes()), IoSlice::new(body)];
    let mut left: &mut [IoSlice<'_>] = &mut parts;
    while !left.is_empty() {
        let n = s.write_vectored(left).expect("request");
        assert!(n > 0, "server closed");
        IoSlice::advance_slices(&mut left, n);
    }
    buf.clear();
    let mut tmp = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut tmp).expect("read");
        assert!(n > 0, "server closed");
        buf.extend_from_slice(&tmp[..n]);
    }
    String::from_utf8_lossy(buf).into_owned()
}

/// Uploads `data` to `/<name>` in fragments of `frag` bytes and closes,
/// as a blocking client.
pub fn upload(addr: SocketAddr, name: &str, data: &[u8], frag: usize) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::new();
    let r = send(
        &mut s,
        &mut buf,
        &format!(
            "BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {PROTO}\r\nContent-Length: 0\r\n\r\n"
        ),
        b"",
    );
    let id = session_id(&r).expect("session id");
    let total = data.len();
    let mut off = 0;
    while off < total {
        let end = (off + frag).min(total);
        let head = format!(
            "BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes {off}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
            end - 1,
            end - off
        );
        let r = send(&mut s, &mut buf, &head, &data[off..end]);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        off = end;
    }
    let r = send(
        &mut s,
        &mut buf,
        &format!(
            "BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Close-Session\r\nBITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n"
        ),
        b"",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// The `BITS-Session-Id` of a Create-Session Ack's head.
pub fn session_id(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("bits-session-id:")
            .then(|| l[16..].trim().to_string())
    })
}
