//! The real `bitsim` binary: `serve`, then `upload` and `download` against
//! it over loopback, byte for byte.

use std::net::SocketAddr;
use std::path::Path;
mod common;

use std::process::{Child, Command};

struct Serve {
    child: Child,
    addr: SocketAddr,
    /// The server's log, drained for as long as the server runs.
    _log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &Path) -> Serve {
    serve_with(root, &[])
}

fn serve_with(root: &Path, extra: &[&str]) -> Serve {
    let common::Served { child, addr, log } = common::spawn_serve(root, extra);
    Serve {
        child,
        addr,
        _log: log,
    }
}

fn bitsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bitsim")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn upload_then_download_round_trips_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let src = d.path().join("src.bin");
    let data = pattern(3 << 20);
    std::fs::write(&src, &data).unwrap();
    let url = format!("http://{}/dir/up.bin", s.addr);

    let out = bitsim(&["upload", src.to_str().unwrap(), &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "upload failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("TRANSFERRED"),
        "state changes printed: {stdout}"
    );
    assert!(stdout.contains("ACKNOWLEDGED"), "{stdout}");
    assert_eq!(std::fs::read(root.join("dir/up.bin")).unwrap(), data);

    let dest = d.path().join("down.bin");
    let out = bitsim(&["download", &url, dest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "download failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[test]
fn a_404_prints_context_and_code_and_exits_non_zero() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let dest = d.path().join("nope.bin");
    let url = format!("http://{}/nope.bin", s.addr);
    let out = bitsim(&["download", &url, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REMOTE_FILE"), "{err}");
    assert!(err.contains("0x80190194"), "{err}");
    assert!(!dest.exists());
    let temps = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("BIT"))
        .count();
    assert_eq!(
        temps, 0,
        "the failed job was cancelled and its temp deleted"
    );
}

#[test]
fn upload_reply_writes_the_reply() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let cfg = d.path().join("server.toml");
    std::fs::write(
        &cfg,
        "[[reply]]\nprefix = \"/echo/\"\napp = { kind = \"echo\" }\n",
    )
    .unwrap();
    let s = serve_with(&root, &["--config", cfg.to_str().unwrap()]);
    let src = d.path().join("q.bin");
    let data = pattern(200_000);
    std::fs::write(&src, &data).unwrap();
    let out_file = d.path().join("answer.bin");
    let url = format!("http://{}/echo/q.bin", s.addr);
    let out = bitsim(&[
        "upload",
        src.to_str().unwrap(),
        &url,
        "--reply",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "upload-reply failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&out_file).unwrap(), data, "echo reply");
}
