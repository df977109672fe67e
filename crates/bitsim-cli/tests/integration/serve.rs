//! Spawns the real `bitsim serve` binary: `kill -9` + restart mid-upload
//! loses no acknowledged byte, SIGTERM shuts down cleanly, and a closed log
//! pipe breaks nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

const PROTO: &str = bitsim_server::parse::BITS_1_5_PROTOCOL;

use crate::common;

type Proc = common::Served;

fn spawn(root: &Path) -> Proc {
    common::spawn_serve(root, &[])
}

fn spawn_with(root: &Path, extra: &[&str]) -> Proc {
    common::spawn_serve(root, extra)
}

struct Resp {
    status: u16,
    head: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn received(&self) -> u64 {
        self.header("BITS-Received-Content-Range")
            .and_then(|v| v.parse().ok())
            .expect("BITS-Received-Content-Range")
    }
}

fn bits(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    bits_at(addr, "/up/file.bin", headers, body)
}

fn bits_at(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!(
        "BITS_POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Resp { status, head: text }
}

fn fragment(addr: SocketAddr, path: &str, id: &str, start: u64, total: u64, data: &[u8]) -> Resp {
    let cr = format!("bytes {}-{}/{total}", start, start + data.len() as u64 - 1);
    bits_at(
        addr,
        path,
        &[
            ("BITS-Packet-Type", "Fragment"),
            ("BITS-Session-Id", id),
            ("Content-Range", &cr),
        ],
        data,
    )
}

fn temp_root(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("mkdir");
    p
}

/// Four sessions at different offsets, each with a fragment half sent
/// when the process is killed: after the restart every session resumes at
/// exactly its acknowledged offset and every file is published intact.
/// In the default `durability = "process-kill"` (no fsync at all).
#[test]
fn kill_9_and_restart_loses_no_byte() {
    kill_9_and_restart("kill9", None);
}

/// The same with `durability = "power-cut"` (group-committed fdatasync).
#[test]
fn kill_9_and_restart_loses_no_byte_with_power_cut_durability() {
    kill_9_and_restart("kill9-power-cut", Some("durability = \"power-cut\"\n"));
}

fn kill_9_and_restart(name: &str, config: Option<&str>) {
    let root = temp_root(name);
    let cfg_file = root.with_extension("toml");
    let extra: Vec<&str> = match config {
        Some(text) => {
            std::fs::write(&cfg_file, text).expect("write config");
            vec!["--config", cfg_file.to_str().expect("utf-8 path")]
        }
        None => Vec::new(),
    };
    let spawn = |root: &Path| spawn_with(root, &extra);
    let frag = 256 * 1024;
    let uploads: Vec<(String, Vec<u8>)> = (0..4u32)
        .map(|k| {
            let data = (0..3_000_000u32 + k * 100_003)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(k) >> 13) as u8)
                .collect();
            (format!("/up/file{k}.bin"), data)
        })
        .collect();

    let mut p = spawn(&root);
    let mut sessions = Vec::new();
    let mut in_flight = Vec::new();
    for (k, (path, data)) in uploads.iter().enumerate() {
        let total = data.len() as u64;
        let r = bits_at(
            p.addr,
            path,
            &[
                ("BITS-Packet-Type", "Create-Session"),
                ("BITS-Supported-Protocols", PROTO),
            ],
            b"",
        );
        assert_eq!(r.status, 200);
        let id = r.header("BITS-Session-Id").expect("session id");
        let mut off = 0u64;
        for _ in 0..2 + k {
            let end = (off as usize + frag).min(data.len());
            let r = fragment(p.addr, path, &id, off, total, &data[off as usize..end]);
            assert_eq!(r.status, 200);
            off = r.received();
        }
        // A fragment in flight when the process dies: half its body sent.
        let mut s = TcpStream::connect(p.addr).expect("connect");
        let head = format!(
            "BITS_POST {path} HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes {off}-{}/{total}\r\nContent-Length: {frag}\r\n\r\n",
            off + frag as u64 - 1
        );
        s.write_all(head.as_bytes()).expect("head");
        s.write_all(&data[off as usize..off as usize + frag / 2])
            .expect("half body");
        s.flush().expect("flush");
        in_flight.push(s);
        sessions.push((id, off));
    }
    p.child.kill().expect("kill -9"); // SIGKILL on Unix
    let status = p.child.wait().expect("wait");
    assert!(!status.success());
    drop(in_flight);

    let mut p = spawn(&root);
    for ((path, data), (id, acked)) in uploads.iter().zip(&sessions) {
        let total = data.len() as u64;
        // Resume: a probe with the first byte is a full duplicate → the offset.
        let r = fragment(p.addr, path, id, 0, total, &data[..1]);
        assert_eq!(r.status, 200, "{path}: session must survive kill -9");
        assert_eq!(
            r.received(),
            *acked,
            "{path}: every acknowledged byte kept, nothing more"
        );
        let mut off = *acked;
        while off < total {
            let end = (off as usize + frag).min(data.len());
            let r = fragment(p.addr, path, id, off, total, &data[off as usize..end]);
            assert_eq!(r.status, 200);
            off = r.received();
        }
        let r = bits_at(
            p.addr,
            path,
            &[
                ("BITS-Packet-Type", "Close-Session"),
                ("BITS-Session-Id", id),
            ],
            b"",
        );
        assert_eq!(r.status, 200);
        let published = std::fs::read(root.join(path.trim_start_matches('/'))).expect("published");
        assert!(published == *data, "{path}: content differs");
    }
    p.child.kill().expect("kill");
    let _ = p.child.wait();
    let _ = p.log.try_recv();
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&cfg_file);
}

/// SIGTERM and Ctrl-C (SIGINT) both stop the server cleanly (exit 0), also
/// with an idle keep-alive connection open.
#[cfg(unix)]
#[test]
fn sigterm_and_ctrl_c_shut_down_cleanly() {
    for (signal, logged) in [("TERM", "SIGTERM received"), ("INT", "Ctrl-C received")] {
        let root = temp_root(&format!("sig{signal}"));
        let mut p = spawn(&root);
        let idle = TcpStream::connect(p.addr).expect("connect");
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &p.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
        let status = p.child.wait().expect("wait");
        assert!(status.success(), "{signal}: exit status {status:?}");
        let rest: Vec<String> = p.log.iter().collect();
        assert!(
            rest.iter().any(|l| l.contains(logged)),
            "{signal}: {rest:?}"
        );
        drop(idle);
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn config_file_is_applied() {
    let root = temp_root("config");
    let cfg = root.with_extension("toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:1\"\nmax_upload_size = 10\n[[faults]]\npacket = \"ping\"\nstatus = 503\ntimes = 1\n",
    )
    .expect("write config");
    let mut p = spawn_with(&root, &["--config", cfg.to_str().expect("utf-8 path")]);
    // --listen on the command line wins over the file's `listen`.
    assert_ne!(p.addr.port(), 1);
    let r = bits(p.addr, &[("BITS-Packet-Type", "Ping")], b"");
    assert_eq!(r.status, 503, "fault from the config file");
    let r = bits(
        p.addr,
        &[
            ("BITS-Packet-Type", "Create-Session"),
            ("BITS-Supported-Protocols", PROTO),
        ],
        b"",
    );
    let id = r.header("BITS-Session-Id").expect("session id");
    let r = fragment(p.addr, "/up/file.bin", &id, 0, 11, b"hello world");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("BITS-Error-Code").as_deref(), Some("0x80200020"));
    p.child.kill().expect("kill");
    let _ = p.child.wait();
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&cfg);
}

/// A log pipe that goes away (`bitsim serve 2>&1 | head -1`) must not
/// take requests down with it: every write to the closed stderr fails, and
/// the server keeps answering, then still shuts down cleanly.
#[cfg(unix)]
#[test]
fn closed_log_pipe_does_not_break_the_server() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let root = temp_root("closed-log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(&root)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bitsim serve");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(
            log.read_line(&mut line).expect("read log") > 0,
            "no address logged"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("addr");
        }
    };
    drop(log); // The reader goes away, like `head -1` exiting.
    for i in 0..20 {
        // Each of these logs (debug: every packet; info: the error), so
        // each writes to the closed pipe.
        let r = bits(addr, &[("BITS-Packet-Type", "Ping")], b"");
        assert_eq!(r.status, 200, "ping {i}");
        let r = bits(addr, &[("BITS-Packet-Type", "Bogus")], b"");
        assert_eq!(r.status, 400, "bad packet {i}");
    }
    let r = bits(
        addr,
        &[
            ("BITS-Packet-Type", "Create-Session"),
            ("BITS-Supported-Protocols", PROTO),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "server exited"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(&root);
}

/// `--tls-self-signed`: the server says where the CA certificate is and
/// its SHA-256 fingerprint, serves HTTPS, and keeps the CA across restarts
/// (a client trusts it once).
#[test]
fn tls_self_signed_prints_the_ca_and_keeps_it() {
    let root = temp_root("tls");
    let ca_line = |p: &mut Proc| -> (String, String) {
        let mut path = None;
        loop {
            let line = p
                .log
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the CA lines");
            if let Some(rest) = line.split("trust the CA certificate ").nth(1) {
                path = Some(rest.trim().to_string());
            }
            if let Some(fp) = line.split("SHA-256 fingerprint ").nth(1) {
                return (path.expect("path line first"), fp.trim().to_string());
            }
        }
    };
    let mut p = spawn_with(&root, &["--tls-self-signed"]);
    let (path, fp) = ca_line(&mut p);
    assert!(Path::new(&path).is_file(), "{path}");
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert_eq!(fp.len(), 95, "{fp}");
    assert!(
        fp.split(':')
            .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok()),
        "{fp}"
    );
    // HTTPS only: a plain HTTP request gets no HTTP answer.
    let mut s = TcpStream::connect(p.addr).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !buf.starts_with(b"HTTP/1.1"),
        "plain HTTP answered on the TLS port"
    );
    p.child.kill().expect("kill");
    let _ = p.child.wait();
    let mut p = spawn_with(&root, &["--tls-self-signed"]);
    assert_eq!(ca_line(&mut p), (path, fp), "the same CA after a restart");
    p.child.kill().expect("kill");
    let _ = p.child.wait();
    let _ = std::fs::remove_dir_all(&root);
}

/// `--listen` takes host names; a busy port is reported once, before the
/// server touches its root (no state directory, no session loaded).
#[test]
fn listen_takes_host_names_and_a_busy_port_fails_first_and_once() {
    let root = temp_root("listen");
    let out = |listen: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .args(["serve", "--listen", listen, "--root"])
            .arg(&root)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let mut err = String::new();
        let mut pipe = child.stderr.take().expect("stderr");
        let mut buf = [0u8; 4096];
        // Read until the listening line or the end.
        loop {
            let n = pipe.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            err.push_str(&String::from_utf8_lossy(&buf[..n]));
            if err.contains("listening on") {
                break;
            }
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        (status, err)
    };
    let (_, err) = out("localhost:0");
    assert!(err.contains("listening on http://"), "{err}");
    let _ = std::fs::remove_dir_all(root.join(".bitsim"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let (status, err) = out(&addr);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.matches(&addr).count(), 1, "the address once: {err}");
    assert_eq!(err.matches("in use").count(), 1, "the reason once: {err}");
    assert!(
        !root.join(".bitsim").exists(),
        "nothing done before the bind"
    );
    let (_, err) = out("localhost");
    assert!(err.contains("--listen"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
