//! Figures for `bitsim service`: one client over loopback TCP against a
//! service in this process, side by side with the same work done
//! in-process on [`bitsim::Simulation`] (no sockets, no JSON), so the
//! protocol's cost is visible.
//!
//! ```sh
//! cargo run --release -p bitsim-service --example bench            # full size
//! cargo run --release -p bitsim-service --example bench -- 0.1     # a tenth of it
//! cargo run --release -p bitsim-service --example bench -- 1 3     # only figure 3
//! ```
//!
//! 1. `job.get_state` calls per second, one at a time (send, wait for the
//!    answer) and pipelined (a writer thread sends every request while the
//!    reader takes the answers);
//! 2. notification round trips per second in virtual time: many jobs whose
//!    `JobModification`, `FileTransferred` and `JobTransferred`
//!    notifications the client answers `S_OK`;
//! 3. 1,000 jobs through 90 virtual days by one `clock.run_until_idle`,
//!    against a server that fails transiently (503s, resets) and for a
//!    month on some files, with a remote callback that completes a
//!    transferred job, cancels on 404 and resumes after any other error.
//!
//! The machine's load average is printed with each figure: the machine is
//! shared, so a figure taken under load is low.
#![allow(clippy::print_stdout)]

use bitsim::{Callback, CallbackResult, JobHandle, Scenario, Simulation};
use bitsim_model::{
    Call, CallbackId, Caller, ErrorInfo, FileRef, Hresult, JobId, JobType, NotifyFlags, UserId,
};
use bitsim_service::{Config, TcpService};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const DAY_MS: u64 = 86_400_000;

/// `JOB_TRANSFERRED | JOB_ERROR | JOB_MODIFICATION | FILE_TRANSFERRED`.
const ALL_NOTIFICATIONS: u32 = 0x1B;

/// A world with one CDN whose files download in a few simulated seconds.
const FAST_WORLD: &str = r#"
name = "bench: notifications"
duration = "3650d"
[policy]
max_jobs_per_machine = 100000
max_jobs_per_user = 100000
[[servers]]
host = "cdn.test"
bandwidth = "10MB"
files = { "/a.bin" = "1MB" }
"#;

/// A world whose server fails transiently (503s, resets) and is down for
/// `outage_days` on one file: longer than the 14-day no-progress timeout,
/// so those jobs go to ERROR, JobError is called, and the callback resumes.
fn flaky_world(outage_days: u32) -> String {
    format!(
        r#"
name = "bench: 1,000 jobs x 90 days"
duration = "3650d"
[policy]
max_jobs_per_machine = 100000
max_jobs_per_user = 100000
[[servers]]
host = "cdn.test"
bandwidth = "10MB"
latency = "20ms"
files = {{ "/small.bin" = "200KB", "/medium.bin" = "2MB", "/late.bin" = "500KB" }}
[[faults]]
kind = "http_status"
status = 503
probability = 0.2
[[faults]]
kind = "connection_reset"
probability = 0.05
[[faults]]
kind = "http_status"
status = 503
url = "/late.bin"
until = "{outage_days}d"
"#
    )
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The file job `i` downloads in the flaky world: one in `late_every` is
/// the file that is down for weeks, one in fifty does not exist (404).
fn flaky_file(i: usize, late_every: usize) -> &'static str {
    if i.is_multiple_of(50) {
        "/gone.bin"
    } else if i % late_every == 1 {
        "/late.bin"
    } else if i % 4 == 2 {
        "/medium.bin"
    } else {
        "/small.bin"
    }
}

// ---- the client ----------------------------------------------------------

/// A JSON-RPC client of the service, one message per line, answering every
/// notification through `on_notify`.
struct Client {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    next: u64,
    line: String,
    notifications: u64,
    /// Notifications received, by method.
    by_method: BTreeMap<String, u64>,
}

type OnNotify<'a> = &'a mut dyn FnMut(&mut Client, &str, &Value) -> &'static str;

impl Client {
    fn connect(service: &TcpService, user: &str) -> Client {
        let stream = TcpStream::connect(service.local_addr()).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: BufWriter::new(stream),
            next: 1,
            line: String::new(),
            notifications: 0,
            by_method: BTreeMap::new(),
        };
        c.call("session.hello", json!({ "user": user }));
        c
    }

    fn write(&mut self, v: &Value) {
        serde_json::to_writer(&mut self.writer, v).expect("write");
        self.writer.write_all(b"\n").expect("write");
    }

    fn read(&mut self) -> Value {
        self.line.clear();
        let n = self.reader.read_line(&mut self.line).expect("read");
        assert!(n > 0, "the service closed the connection");
        serde_json::from_str(&self.line).expect("a JSON line")
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_with(method, params, &mut |_, _, _| "S_OK")
    }

    /// Calls `method` and waits for its answer, answering notifications
    /// that arrive meanwhile with what `on_notify` returns.
    fn call_with(&mut self, method: &str, params: Value, on_notify: OnNotify<'_>) -> Value {
        let id = self.next;
        self.next += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.writer.flush().expect("flush");
        loop {
            let m = self.read();
            if let Some(name) = m.get("method").and_then(Value::as_str) {
                self.notifications += 1;
                let name = name.to_owned();
                *self.by_method.entry(name.clone()).or_default() += 1;
                let hr = on_notify(self, &name, &m["params"]);
                self.write(&json!({"jsonrpc": "2.0", "id": m["id"], "result": hr}));
                self.writer.flush().expect("flush");
                continue;
            }
            assert_eq!(m["id"], json!(id), "answers come in order: {m}");
            assert!(m.get("error").is_none(), "{method}: {m}");
            return m["result"].clone();
        }
    }

    /// A BITS call that must succeed; its reply value.
    fn bits(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert_eq!(r["hresult"]["value"], 0, "{method}: {r}");
        r["value"].clone()
    }

    /// Creates a download job of `url`, registered for `flags`.
    fn job(&mut self, i: usize, url: &str, flags: u32) -> String {
        let job = self.bits(
            "manager.create_job",
            json!({"display_name": format!("job{i}"), "job_type": "download"}),
        );
        self.bits(
            "job.add_file",
            json!({"job": job, "remote": url, "local": format!("/d/{i}")}),
        );
        self.bits("job.set_notify_flags", json!({"job": job, "flags": flags}));
        self.bits("job.set_notify_interface", json!({"job": job}));
        self.bits("job.resume", json!({"job": job}));
        job.as_str().expect("a job GUID").to_owned()
    }

    fn states(&mut self) -> BTreeMap<String, usize> {
        let r = self.call("inspect.jobs", json!({}));
        let mut m = BTreeMap::new();
        for j in r["jobs"].as_array().expect("jobs") {
            *m.entry(j["state"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        m
    }
}

// ---- the same work in-process --------------------------------------------

/// The in-process run: the simulation, called as the service calls it.
struct Local {
    sim: Simulation,
    caller: Caller,
}

impl Local {
    fn new(world: &str, seed: u64) -> Local {
        Local {
            sim: Simulation::new(Scenario::parse(world, "bench").expect("world"), seed),
            caller: Caller {
                user: UserId::new("alice"),
                admin: false,
            },
        }
    }

    fn apply(&mut self, call: Call, job: JobId) -> Hresult {
        let caller = self.caller.clone();
        let r = self
            .sim
            .with_manager(|m, now| call.apply(m, now, &caller, job));
        bitsim_model::Reply::hresult_of(&r)
    }

    fn job(&mut self, i: usize, url: &str, flags: u32, cb: CallbackId) -> JobId {
        let job = self.sim.new_job_id();
        let create = Call::CreateJob {
            display_name: format!("job{i}"),
            job_type: JobType::Download,
        };
        let calls = [
            create,
            Call::AddFile {
                remote: url.to_owned(),
                local: format!("/d/{i}"),
            },
            Call::SetNotifyFlags {
                flags: NotifyFlags(flags),
            },
            Call::SetNotifyInterface { callback: Some(cb) },
            Call::Resume,
        ];
        for call in calls {
            assert_eq!(self.apply(call, job), Hresult::S_OK);
        }
        self.sim.name_job(job, &job.to_string());
        job
    }

    /// `clock.run_until_idle`: every event up to `max` from now, or until
    /// nothing is left.
    fn run_until_idle(&mut self, max_ms: u64) {
        let limit = self.sim.now().saturating_add(Duration::from_millis(max_ms));
        while self.sim.step(limit) {}
    }

    fn states(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for j in self.sim.manager().all_jobs() {
            *m.entry(j.state.to_string()).or_default() += 1;
        }
        m
    }
}

type Tally = std::rc::Rc<std::cell::RefCell<BTreeMap<String, u64>>>;

/// A callback that answers `S_OK` and counts its calls by method.
struct Counting(Tally);

impl Counting {
    fn count(&mut self, method: &str) -> CallbackResult {
        *self.0.borrow_mut().entry(method.to_owned()).or_default() += 1;
        CallbackResult::ok()
    }
}

impl Callback for Counting {
    fn job_transferred(&mut self, _: &mut JobHandle<'_>) -> CallbackResult {
        self.count("JobTransferred")
    }
    fn job_error(&mut self, _: &mut JobHandle<'_>, _: &ErrorInfo) -> CallbackResult {
        self.count("JobError")
    }
    fn job_modification(&mut self, _: &mut JobHandle<'_>) -> CallbackResult {
        self.count("JobModification")
    }
    fn file_transferred(&mut self, _: &mut JobHandle<'_>, _: FileRef) -> CallbackResult {
        self.count("FileTransferred")
    }
}

/// The updater's callback: Complete when transferred, Cancel on 404,
/// Resume after any other error.
struct Updater(std::rc::Rc<std::cell::Cell<u64>>);

impl Callback for Updater {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        self.0.set(self.0.get() + 1);
        let _ = job.complete();
        CallbackResult::ok()
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        self.0.set(self.0.get() + 1);
        if error.code == Hresult::http(404) {
            let _ = job.cancel();
        } else {
            let _ = job.resume();
        }
        CallbackResult::ok()
    }
}

/// The same updater as a remote client's notification handler.
fn remote_updater(c: &mut Client, method: &str, p: &Value) -> &'static str {
    let job = p["job"].clone();
    match method {
        "JobTransferred" => {
            c.call("job.complete", json!({ "job": job }));
        }
        "JobError" if p["error"]["code"]["name"] == "BG_E_HTTP_ERROR_404" => {
            c.call("job.cancel", json!({ "job": job }));
        }
        "JobError" => {
            c.call("job.resume", json!({ "job": job }));
        }
        _ => {}
    }
    "S_OK"
}

// ---- the figures ---------------------------------------------------------

fn get_state(calls: u64) {
    println!("\n1. job.get_state, {calls} calls");
    let service =
        TcpService::bind(Config::new(Config::empty_world(), 1), "127.0.0.1:0").expect("bind");
    let mut c = Client::connect(&service, "alice");
    let job = c.bits(
        "manager.create_job",
        json!({"display_name": "x", "job_type": "download"}),
    );

    let t = Instant::now();
    for _ in 0..calls {
        let r = c.call("job.get_state", json!({ "job": job }));
        debug_assert_eq!(r["value"], "SUSPENDED");
    }
    let d = t.elapsed();
    println!(
        "   service, one at a time: {:>10.0} calls/s  ({d:.2?}; load {})",
        per_sec(calls, d),
        load()
    );

    // Pipelined: a writer thread sends every request; this thread reads
    // the answers.
    let t = Instant::now();
    let first = c.next;
    c.next += calls;
    let mut w = BufWriter::new(c.writer.get_ref().try_clone().expect("clone"));
    let request_job = job.clone();
    let writer = std::thread::spawn(move || {
        for id in first..first + calls {
            let m = json!({"jsonrpc": "2.0", "id": id, "method": "job.get_state",
                           "params": {"job": request_job}});
            serde_json::to_writer(&mut w, &m).expect("write");
            w.write_all(b"\n").expect("write");
        }
        w.flush().expect("flush");
    });
    for id in first..first + calls {
        let m = c.read();
        assert_eq!(m["id"], id, "{m}");
        debug_assert_eq!(m["result"]["value"], "SUSPENDED");
    }
    writer.join().expect("writer");
    let d = t.elapsed();
    println!(
        "   service, pipelined:     {:>10.0} calls/s  ({d:.2?}; load {})",
        per_sec(calls, d),
        load()
    );

    let mut local = Local::new(FAST_WORLD, 1);
    let id = local.sim.new_job_id();
    local.apply(
        Call::CreateJob {
            display_name: "x".into(),
            job_type: JobType::Download,
        },
        id,
    );
    let t = Instant::now();
    for _ in 0..calls {
        let hr = local.apply(Call::GetState, id);
        debug_assert_eq!(hr, Hresult::S_OK);
    }
    let d = t.elapsed();
    println!(
        "   in-process Call::apply: {:>10.0} calls/s  ({d:.2?}; load {})",
        per_sec(calls, d),
        load()
    );
}

/// Jobs at once in figure 2: with thousands at once the model's scheduler,
/// not the protocol, sets the pace (the in-process figure shows it).
const BATCH: usize = 200;

fn notifications(jobs: usize) {
    let batch = BATCH.min(jobs);
    let rounds = jobs.div_ceil(batch);
    println!(
        "\n2. notification round trips in virtual time: {rounds} rounds of {batch} jobs of one \
         1 MB file, every notification asked for and answered S_OK, then Complete"
    );
    let world = || Scenario::parse(FAST_WORLD, "w").expect("world");
    let service = TcpService::bind(Config::new(world(), 1), "127.0.0.1:0").expect("bind");
    let mut c = Client::connect(&service, "alice");
    let (mut n, mut d) = (0, Duration::ZERO);
    for round in 0..rounds {
        let ids: Vec<String> = (0..batch)
            .map(|i| {
                c.job(
                    round * batch + i,
                    "http://cdn.test/a.bin",
                    ALL_NOTIFICATIONS,
                )
            })
            .collect();
        // Notifications raised by the calls come before this answer.
        c.call("clock.now", json!({}));
        let before = c.notifications;
        let t = Instant::now();
        c.call("clock.run_until_idle", json!({ "max": DAY_MS }));
        d += t.elapsed();
        n += c.notifications - before;
        for job in ids {
            c.bits("job.complete", json!({ "job": job }));
        }
    }
    c.call("clock.now", json!({}));
    let total = c.notifications;
    println!(
        "   service:    {:>10.0} round trips/s  ({n} notifications in {d:.2?} of run_until_idle; load {})",
        per_sec(n, d),
        load()
    );
    let remote_states = c.states();

    let mut local = Local::new(FAST_WORLD, 1);
    let tally = Tally::default();
    let cb = local.sim.add_callback(Box::new(Counting(tally.clone())));
    let count = || tally.borrow().values().sum::<u64>();
    let (mut n, mut d) = (0, Duration::ZERO);
    for round in 0..rounds {
        let ids: Vec<JobId> = (0..batch)
            .map(|i| {
                local.job(
                    round * batch + i,
                    "http://cdn.test/a.bin",
                    ALL_NOTIFICATIONS,
                    cb,
                )
            })
            .collect();
        let before = count();
        let t = Instant::now();
        local.run_until_idle(DAY_MS);
        d += t.elapsed();
        n += count() - before;
        for job in ids {
            assert_eq!(local.apply(Call::Complete, job), Hresult::S_OK);
        }
    }
    println!(
        "   in-process: {:>10.0} callbacks/s    ({n} callbacks in {d:.2?}; load {})",
        per_sec(n, d),
        load()
    );
    println!(
        "   in all: service {total} notifications {:?}, {remote_states:?}\n           in-process {} callbacks {:?}, {:?}",
        c.by_method,
        count(),
        tally.borrow(),
        local.states()
    );
}

/// Figure 3: `jobs` jobs, one in `late_every` behind an outage of
/// `outage_days` days.
fn ninety_days(jobs: usize, late_every: usize, outage_days: u32) {
    println!(
        "\n3. {jobs} jobs x 90 virtual days by clock.run_until_idle, a flaky server (20% 503s, \
         5% resets, 2% 404s, one job in {late_every} behind a {outage_days}-day outage), \
         a remote callback (Complete / Cancel on 404 / Resume)"
    );
    let text = flaky_world(outage_days);
    let world = Scenario::parse(&text, "w").expect("world");
    let service = TcpService::bind(Config::new(world, 1), "127.0.0.1:0").expect("bind");
    let mut c = Client::connect(&service, "alice");
    let t = Instant::now();
    for i in 0..jobs {
        c.job(
            i,
            &format!("http://cdn.test{}", flaky_file(i, late_every)),
            0x3,
        );
    }
    let setup = t.elapsed();
    let before = c.notifications;
    let t = Instant::now();
    let r = c.call_with(
        "clock.run_until_idle",
        json!({ "max": 90 * DAY_MS }),
        &mut remote_updater,
    );
    let d = t.elapsed();
    let n = c.notifications - before;
    println!(
        "   service:    {d:>8.2?} run_until_idle ({n} notifications, idle {} at {}) + {setup:.2?} \
         for the {} setup calls; load {}",
        r["idle"],
        r["text"].as_str().unwrap_or("?"),
        jobs * 5,
        load()
    );
    let remote_states = c.states();

    let mut local = Local::new(&text, 1);
    let count = std::rc::Rc::new(std::cell::Cell::new(0));
    let cb = local.sim.add_callback(Box::new(Updater(count.clone())));
    let t = Instant::now();
    for i in 0..jobs {
        local.job(
            i,
            &format!("http://cdn.test{}", flaky_file(i, late_every)),
            0x3,
            cb,
        );
    }
    let setup = t.elapsed();
    let t = Instant::now();
    local.run_until_idle(90 * DAY_MS);
    let d = t.elapsed();
    println!(
        "   in-process: {d:>8.2?} to idle ({} callbacks, at {}) + {setup:.2?} setup; load {}",
        count.get(),
        local.sim.now(),
        load()
    );
    let retries = local
        .sim
        .trace()
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                bitsim::TraceEvent::Transition {
                    to: bitsim_model::JobState::TransientError,
                    ..
                }
            )
        })
        .count();
    println!(
        "   final states: service {remote_states:?}, in-process {:?}; {retries} transient errors",
        local.states()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    // Optional second argument: which figures (`1`, `2`, `3`; all by default).
    let only = |i: &str| args.get(1).is_none_or(|w| w.contains(i));
    let n = |x: f64| ((x * scale) as u64).max(1);
    println!(
        "bitsim service over loopback TCP vs the same work in-process (scale {scale}; load {})",
        load()
    );
    if only("1") {
        get_state(n(200_000.0));
    }
    if only("2") {
        notifications(n(2_000.0) as usize);
    }
    if only("3") {
        ninety_days(n(1_000.0) as usize, 50, 15);
        // Retries dominate: a month-long outage for one job in ten is
        // 100 x 4,320 retries, the simulator's cost more than the protocol's.
        ninety_days(n(1_000.0) as usize, 10, 30);
    }
}
