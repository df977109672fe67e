//! Starting the real `bitsim serve` and `bitsim service` binaries for the
//! CLI's test modules, and a JSON-RPC client of the service.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
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
    let root = root.to_str().expect("a UTF-8 root");
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--root", root];
    args.extend_from_slice(extra);
    spawn_listening(&args)
}

/// Starts `bitsim service --listen 127.0.0.1:0 EXTRA...` and waits for the
/// address it logs.
pub fn spawn_service(extra: &[&str]) -> Served {
    let mut args = vec!["service", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    spawn_listening(&args)
}

/// Starts `bitsim ARGS...` (a command that listens) with `RUST_LOG=info`
/// and waits for the line "listening on [SCHEME://]ADDR" it logs.
fn spawn_listening(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn bitsim {args:?}: {e}"));
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
            .unwrap_or_else(|_| panic!("bitsim {args:?} exited before listening"));
        if let Some(rest) = line.split("listening on ").nth(1) {
            let a = rest.split_whitespace().next().expect("address");
            let a = a.split("://").last().unwrap_or(a);
            break a.parse().expect("socket address");
        }
    };
    Served {
        child,
        addr,
        log: rx,
    }
}

/// A JSON-RPC 2.0 connection to a running `bitsim service`, one message
/// per line each way, after `session.hello` as `user`.
pub struct Rpc {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    id: u64,
}

impl Rpc {
    /// Connects and says hello as `user` (an administrator if `admin`).
    pub fn connect(addr: SocketAddr, user: &str, admin: bool) -> Rpc {
        let s = TcpStream::connect(addr).expect("connect to the service");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Rpc {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
            id: 0,
        };
        let r = c.call("session.hello", json!({"user": user, "admin": admin}));
        assert_eq!(r["user"], user, "{r}");
        c
    }

    /// The whole answer to `method` (a `result` or an `error`).
    pub fn ask(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params});
        writeln!(self.writer, "{msg}").unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// The `result` of `method`; panics on a JSON-RPC error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let v = self.ask(method, params);
        v.get("result").cloned().unwrap_or_else(|| panic!("{v}"))
    }
}
