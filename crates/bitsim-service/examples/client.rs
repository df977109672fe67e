//! A Rust client of `bitsim service`: starts a service in this process on a
//! free loopback port, then talks to it over TCP as any client would, with
//! a callback that completes the job when JobTransferred arrives.
//!
//! ```sh
//! cargo run -p bitsim-service --example client
//! ```
//!
//! `cargo test -p bitsim-service` runs it too (its `tests` module below)
//! and checks what it did.
#![allow(clippy::print_stdout)]

use bitsim::Scenario;
use bitsim_service::{Config, TcpService};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next: u64,
}

impl Client {
    fn send(&mut self, v: &Value) -> std::io::Result<()> {
        writeln!(self.writer, "{v}")
    }

    /// Calls `method`; notifications arriving meanwhile go to `on_notify`,
    /// whose value is the HRESULT the callback returns.
    fn call(
        &mut self,
        method: &str,
        params: Value,
        on_notify: &mut dyn FnMut(&mut Client, &str, &Value) -> &'static str,
    ) -> std::io::Result<Value> {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let m: Value = serde_json::from_str(&line)?;
            if let Some(name) = m["method"].as_str() {
                let hr = on_notify(self, name, &m["params"]);
                self.send(&json!({"jsonrpc": "2.0", "id": m["id"], "result": hr}))?;
            } else if m["id"] == json!(id) {
                return Ok(m);
            }
        }
    }
}

/// What the example saw: each line it printed.
type Lines = Vec<String>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for line in run()? {
        println!("{line}");
    }
    Ok(())
}

/// Runs the example and returns what it has to say, line by line.
fn run() -> Result<Lines, Box<dyn std::error::Error>> {
    let mut out = Lines::new();
    let world = Scenario::parse(
        "name = \"w\"\nduration = \"1d\"\n[[servers]]\nhost = \"cdn.test\"\nfiles = { \"/a.bin\" = \"4MB\" }\n",
        "w",
    )?;
    let service = TcpService::bind(Config::new(world, 1), "127.0.0.1:0")?;
    let stream = TcpStream::connect(service.local_addr())?;
    let mut c = Client {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
        next: 1,
    };
    let mut ok = |_: &mut Client, _: &str, _: &Value| "S_OK";
    c.call("session.hello", json!({"user": "alice"}), &mut ok)?;
    let r = c.call(
        "manager.create_job",
        json!({"display_name": "demo", "job_type": "download"}),
        &mut ok,
    )?;
    let job = r["result"]["value"].clone();
    for (method, params) in [
        (
            "job.add_file",
            json!({"job": job, "remote": "http://cdn.test/a.bin", "local": "/tmp/a.bin"}),
        ),
        ("job.set_notify_interface", json!({"job": job})),
        ("job.resume", json!({"job": job})),
    ] {
        let r = c.call(method, params, &mut ok)?;
        out.push(format!("{method}: {}", r["result"]["hresult"]["name"]));
    }
    let mut on_notify = |c: &mut Client, method: &str, p: &Value| {
        out.push(format!("notification: {method}"));
        if method == "JobTransferred" {
            let r = c.call(
                "job.complete",
                json!({"job": p["job"]}),
                &mut |_, _, _| "S_OK",
            );
            out.push(format!(
                "  Complete from the callback: {}",
                r.map(|r| r["result"]["hresult"]["name"].clone())
                    .unwrap_or_default()
            ));
        }
        "S_OK"
    };
    let r = c.call(
        "clock.run_until_idle",
        json!({"max": 86_400_000}),
        &mut on_notify,
    )?;
    out.push(format!("idle at {}", r["result"]["text"]));
    let r = c.call("job.get_state", json!({"job": job}), &mut ok)?;
    out.push(format!("state: {}", r["result"]["value"]));
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The example runs to its end: the callback completed the job from
    /// inside JobTransferred, and the job ended ACKNOWLEDGED.
    #[test]
    fn the_client_example_completes_its_job_from_the_callback() {
        let lines = super::run().expect("the example runs");
        let text = lines.join("\n");
        for want in [
            "job.add_file: \"S_OK\"",
            "job.set_notify_interface: \"S_OK\"",
            "job.resume: \"S_OK\"",
            "notification: JobTransferred",
            "  Complete from the callback: \"S_OK\"",
            "state: \"ACKNOWLEDGED\"",
        ] {
            assert!(lines.iter().any(|l| l == want), "no {want:?} in:\n{text}");
        }
    }
}
