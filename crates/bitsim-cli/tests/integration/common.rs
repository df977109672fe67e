//! Starting the real `bitsim serve` binary for the CLI's test modules.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `bitsim serve`: the process, the address it logged, and its
/// log lines as they come (drained on a thread, so the pipe never fills).
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: mpsc::Receiver<String>,
}

/// Starts `bitsim serve --listen 127.0.0.1:0 --root ROOT EXTRA...` and waits
/// for the address it logs.
pub fn spawn_serve(root: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bitsim serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server exited before listening");
        let rest = line
            .split("listening on http://")
            .nth(1)
            .or_else(|| line.split("listening on https://").nth(1));
        if let Some(rest) = rest {
            let a = rest.split_whitespace().next().expect("address");
            break a.parse().expect("socket address");
        }
    };
    Served {
        child,
        addr,
        log: rx,
    }
}
