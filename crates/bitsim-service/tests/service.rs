//! `bitsim service` end to end: real TCP sockets on loopback and stdio-like
//! pipes, clients that speak JSON-RPC line by line.

use bitsim::Scenario;
use bitsim_service::{Clock, Config, Service, TcpService, World};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WORLD: &str = r#"
name = "service test world"
duration = "3650d"

[[servers]]
host = "cdn.test"
files = { "/a.bin" = "1MB", "/b.bin" = "2MB" }
"#;

fn world() -> Scenario {
    Scenario::parse(WORLD, "world").unwrap()
}

fn tcp(config: Config) -> TcpService {
    TcpService::bind(config, "127.0.0.1:0").unwrap()
}

/// What a client's callback handler does with a notification.
type Handler<'a> = &'a mut dyn FnMut(&mut Client, &str, &Value) -> Option<Value>;

/// A JSON-RPC client over one line-oriented stream.
struct Client {
    reader: Box<dyn BufRead + Send>,
    writer: Box<dyn Write + Send>,
    next: u64,
    /// Notifications received, as (method, params).
    seen: Vec<(String, Value)>,
}

impl Client {
    fn tcp(s: &TcpService) -> Client {
        let stream = TcpStream::connect(s.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            reader: Box::new(BufReader::new(stream.try_clone().unwrap())),
            writer: Box::new(stream),
            next: 1,
            seen: Vec::new(),
        }
    }

    fn hello(s: &TcpService, user: &str, admin: bool) -> Client {
        let mut c = Client::tcp(s);
        let r = c.call("session.hello", json!({"user": user, "admin": admin}));
        assert_eq!(r["result"]["user"], user, "{r}");
        c
    }

    fn send_line(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.writer.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the service closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a request and returns its whole response; notifications that
    /// arrive meanwhile are answered S_OK (recorded in `seen`).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_with(method, params, &mut |_, _, _| Some(json!("S_OK")))
    }

    fn call_with(&mut self, method: &str, params: Value, h: Handler<'_>) -> Value {
        let id = self.next;
        self.next += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&line.to_string());
        self.wait_for(id, h)
    }

    /// Answers the service's request `n` (a notification) with `result`.
    fn answer(&mut self, n: &Value, result: impl serde::Serialize) {
        let a = json!({"jsonrpc": "2.0", "id": n["id"], "result": result});
        self.send_line(&a.to_string());
    }

    fn wait_for(&mut self, id: u64, h: Handler<'_>) -> Value {
        loop {
            let m = self.read();
            if m.get("method").is_some() {
                let method = m["method"].as_str().unwrap().to_owned();
                self.seen.push((method.clone(), m["params"].clone()));
                if let Some(answer) = h(self, &method, &m["params"]) {
                    self.answer(&m, answer);
                }
                continue;
            }
            assert_eq!(m["id"], json!(id), "answers come in order: {m}");
            return m;
        }
    }

    /// A BITS call's result; panics on a JSON-RPC error.
    fn bits(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    fn create(&mut self, name: &str) -> String {
        let r = self.bits(
            "manager.create_job",
            json!({"display_name": name, "job_type": "download"}),
        );
        assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
        r["value"].as_str().unwrap().to_owned()
    }

    /// A download job named `name` with one file (created and AddFile'd).
    fn download(
        &mut self,
        name: &str,
        remote: impl serde::Serialize,
        local: impl serde::Serialize,
    ) -> String {
        let job = self.create(name);
        self.bits(
            "job.add_file",
            json!({"job": job, "remote": remote, "local": local}),
        );
        job
    }

    fn state(&mut self, job: &str) -> String {
        let r = self.bits("job.get_state", json!({"job": job}));
        r["value"].as_str().unwrap().to_owned()
    }

    fn trace(&mut self) -> Vec<Value> {
        let r = self.bits("inspect.trace", json!({}));
        r["entries"].as_array().unwrap().clone()
    }
}

fn is_callback(e: &Value, method: &str) -> bool {
    e["event"]["type"] == "callback" && e["event"]["method"] == method
}

fn error_code(r: &Value) -> i64 {
    r["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error: {r}"))
}

fn error_message(r: &Value) -> String {
    r["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn bits_calls_carry_the_hresult_the_model_returns() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.create("nightly");
    assert!(job.len() == 36, "{job}");
    // Resume without files: BG_E_EMPTY, as a result, not a JSON-RPC error.
    let r = c.bits("job.resume", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "BG_E_EMPTY", "{r}");
    assert_eq!(r["hresult"]["hex"], "0x80200003", "{r}");
    assert_eq!(r["hresult"]["value"], 0x8020_0003u32, "{r}");
    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert_eq!(c.state(&job), "SUSPENDED");
    let r = c.bits(
        "job.add_file",
        json!({"job": job, "remote": "http://cdn.test/a.bin", "local": "/d/a.bin"}),
    );
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(r["reply"], "done", "{r}");
    let r = c.bits("job.set_priority", json!({"job": job, "priority": "HIGH"}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    let r = c.bits("job.get_priority", json!({"job": job}));
    assert_eq!(
        (r["reply"].as_str(), r["value"].as_str()),
        (Some("priority"), Some("HIGH")),
        "{r}"
    );
    // The retry delay's 5 s floor is the model's.
    c.bits(
        "job.set_minimum_retry_delay",
        json!({"job": job, "seconds": 1}),
    );
    let r = c.bits("job.get_minimum_retry_delay", json!({"job": job}));
    assert_eq!(r["value"], 5, "{r}");
    let r = c.bits("job.get_error", json!({"job": job}));
    assert_eq!(
        r["hresult"]["name"], "BG_E_ERROR_INFORMATION_UNAVAILABLE",
        "{r}"
    );
    // Time stands still until a client moves it.
    c.bits("job.resume", json!({"job": job}));
    assert_eq!(c.state(&job), "CONNECTING");
    let r = c.bits("clock.advance", json!({"ms": 60_000}));
    assert_eq!(r["now"], 60_000, "{r}");
    assert_eq!(c.state(&job), "TRANSFERRED");
    let r = c.bits("job.complete", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(c.state(&job), "ACKNOWLEDGED");
    let r = c.bits("job.cancel", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "BG_E_INVALID_STATE", "{r}");
    let r = c.bits(
        "manager.get_job",
        json!({"job": "{00000000-0000-4000-8000-000000000000}"}),
    );
    assert_eq!(r["hresult"]["name"], "BG_E_NOT_FOUND", "{r}");
}

#[test]
fn protocol_misuse_is_a_json_rpc_error_naming_what_was_wrong() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::tcp(&s);
    // Before hello.
    let r = c.call("manager.enum_jobs", json!({}));
    assert_eq!(error_code(&r), -32001, "{r}");
    assert!(error_message(&r).contains("session.hello"), "{r}");
    // Malformed JSON: answered with id null, the connection stays usable.
    c.send_line("{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\": ");
    let r = c.read();
    assert_eq!((error_code(&r), &r["id"]), (-32700, &Value::Null), "{r}");
    c.send_line("[1, 2]");
    assert_eq!(error_code(&c.read()), -32600);
    let r = c.call("session.hello", json!({"user": 3}));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(error_message(&r).contains("invalid type"), "{r}");
    c.call("session.hello", json!({"user": "alice"}));
    let r = c.call("session.hello", json!({"user": "bob"}));
    assert_eq!(error_code(&r), -32002, "{r}");
    assert!(error_message(&r).contains("alice"), "{r}");
    let r = c.call("job.resum", json!({}));
    assert_eq!(error_code(&r), -32601, "{r}");
    assert!(error_message(&r).contains("job.resum"), "{r}");
    let r = c.call("manager.resume", json!({}));
    assert_eq!(error_code(&r), -32601, "{r}");
    let job = c.create("x");
    let r = c.call("job.set_priority", json!({"job": job, "priority": "hihg"}));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(error_message(&r).contains("hihg"), "{r}");
    let r = c.call(
        "job.add_file",
        json!({"job": job, "remote": 5, "local": "/x"}),
    );
    assert!(error_message(&r).contains("job.add_file"), "{r}");
    let r = c.call("job.get_state", json!({"job": "not-a-guid"}));
    assert!(
        error_message(&r).contains("\"job\" must be a job GUID"),
        "{r}"
    );
    let r = c.call("job.get_state", json!({}));
    assert!(error_message(&r).contains("missing \"job\""), "{r}");
    let r = c.call("clock.advance", json!({"ms": -1}));
    assert_eq!(error_code(&r), -32602, "{r}");
    let r = c.call("clock.advance", json!([1]));
    assert!(
        error_message(&r).contains("params must be an object"),
        "{r}"
    );
    // A JSON-RPC notification (no id) is executed and not answered.
    c.send_line(r#"{"jsonrpc":"2.0","method":"clock.advance","params":{"ms":1000}}"#);
    let r = c.bits("clock.now", json!({}));
    assert_eq!(r["now"], 1000, "{r}");
    let r = c.call("clock.run_until", json!({"t": 5}));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(error_message(&r).contains("before now"), "{r}");
    // A known job id of nobody's: the BITS HRESULT, not a protocol error.
    let r = c.bits(
        "job.get_state",
        json!({"job": "{11111111-1111-4111-8111-111111111111}"}),
    );
    assert_eq!(r["hresult"]["name"], "BG_E_NOT_FOUND", "{r}");
}

#[test]
fn bits_access_rules_apply_across_connections() {
    let s = tcp(Config::new(world(), 1));
    let mut alice = Client::hello(&s, "alice", false);
    let mut bob = Client::hello(&s, "bob", false);
    let mut admin = Client::hello(&s, "root", true);
    let job = alice.create("mine");
    let r = bob.bits("job.get_state", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "E_ACCESSDENIED", "{r}");
    let r = bob.bits("job.cancel", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "E_ACCESSDENIED", "{r}");
    let r = bob.bits("manager.enum_jobs", json!({}));
    assert_eq!(r["value"], json!([]), "{r}");
    let r = admin.bits("job.get_owner", json!({"job": job}));
    assert_eq!(r["value"], "alice", "{r}");
    let r = admin.bits("manager.enum_jobs", json!({"flags": 1}));
    assert_eq!(r["value"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(alice.state(&job), "SUSPENDED");
}

/// Runs one script of calls on a fresh service and returns its trace.
fn scripted_run(seed: u64) -> (Vec<Value>, String) {
    let scenario = Scenario::parse(
        &format!(
            "{WORLD}\n[[faults]]\nkind = \"http_status\"\nstatus = 503\nprobability = 0.5\ncount = 6\n"
        ),
        "w",
    )
    .unwrap();
    let s = tcp(Config::new(scenario, seed));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("flaky", "http://cdn.test/b.bin", "/d/b");
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    c.bits("clock.run_until_idle", json!({"max": 86_400_000}));
    (c.trace(), job)
}

#[test]
fn a_virtual_run_is_a_function_of_the_calls_and_the_seed() {
    let (a, job_a) = scripted_run(7);
    let (b, job_b) = scripted_run(7);
    assert_eq!(job_a, job_b, "job GUIDs come from the seed");
    assert_eq!(a, b);
    assert!(a.len() > 5, "{a:?}");
    let (c, _) = scripted_run(8);
    assert_ne!(a, c, "another seed draws other faults and GUIDs");
}

#[test]
fn clock_methods_move_virtual_time_only_when_called() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    assert_eq!(c.bits("clock.now", json!({}))["now"], 0);
    let job = c.download("retry", "http://nowhere.test/x", "/d/x");
    c.bits("job.resume", json!({"job": job}));
    c.bits("clock.advance", json!({"ms": 5_000}));
    // The name does not resolve: transient, retried after 600 s.
    assert_eq!(c.state(&job), "TRANSIENT_ERROR");
    let r = c.bits("clock.run_until", json!({"t": 599_000}));
    assert_eq!(r["now"], 599_000);
    assert_eq!(c.state(&job), "TRANSIENT_ERROR");
    c.bits("clock.run_until", json!({"t": 700_000}));
    let r = c.bits("job.get_error_count", json!({"job": job}));
    assert_eq!(r["value"], 2, "{r}");
    // Idle: nothing else would ever happen; the clock stops at the last event.
    let j2 = c.create("idle");
    c.bits("job.cancel", json!({"job": j2}));
    c.bits("job.cancel", json!({"job": job}));
    let r = c.bits("clock.run_until_idle", json!({"max": 90 * 86_400_000u64}));
    assert_eq!(r["idle"], true, "{r}");
    assert_eq!(r["now"], 700_000, "{r}");
    // Not idle within max: the clock goes to max.
    let j3 = c.create("waits");
    let r = c.bits("clock.run_until_idle", json!({"max": 1000}));
    assert_eq!(
        (r["idle"].as_bool(), r["now"].as_u64()),
        (Some(false), Some(701_000)),
        "{r}"
    );
    assert_eq!(c.state(&j3), "SUSPENDED");
}

/// The updater of the README: JobError cancels on 404, resumes otherwise.
fn updater(c: &mut Client, method: &str, p: &Value) -> Option<Value> {
    if method == "JobError" {
        let job = p["job"].as_str().unwrap().to_owned();
        let code = p["error"]["code"]["name"].as_str().unwrap().to_owned();
        let r = if code == "BG_E_HTTP_ERROR_404" {
            c.bits("job.cancel", json!({"job": job}))
        } else {
            c.bits("job.resume", json!({"job": job}))
        };
        assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    }
    Some(json!("S_OK"))
}

#[test]
fn notifications_round_trip_and_the_handler_can_call_back() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let good = c.download("good", "http://cdn.test/a.bin", "/d/a");
    let missing = c.download("missing", "http://cdn.test/nope", "/d/n");
    for j in [&good, &missing] {
        // JobTransferred | JobError | FileTransferred.
        c.bits("job.set_notify_flags", json!({"job": j, "flags": 0x13}));
        let r = c.bits("job.set_notify_interface", json!({"job": j}));
        assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
        c.bits("job.resume", json!({"job": j}));
    }
    let r = c.call_with(
        "clock.run_until_idle",
        json!({"max": 90u64 * 86_400_000}),
        &mut updater,
    );
    assert_eq!(
        r["result"]["idle"], false,
        "the good job waits for Complete: {r}"
    );
    let methods: Vec<&str> = c.seen.iter().map(|(m, _)| m.as_str()).collect();
    assert!(methods.contains(&"JobError"), "{methods:?}");
    assert!(methods.contains(&"JobTransferred"), "{methods:?}");
    assert!(methods.contains(&"FileTransferred"), "{methods:?}");
    assert!(
        !methods.contains(&"JobModification"),
        "not asked for: {methods:?}"
    );
    let e = c.seen.iter().find(|(m, _)| m == "JobError").unwrap();
    assert_eq!(e.1["job"], json!(missing));
    assert_eq!(e.1["user"], "alice");
    let f = c.seen.iter().find(|(m, _)| m == "FileTransferred").unwrap();
    assert_eq!(f.1["file"], 0, "{f:?}");
    assert_eq!(c.state(&missing), "CANCELLED");
    assert_eq!(c.state(&good), "TRANSFERRED");
    // The trace shows the callback, what it returned and the call it made.
    let trace = c.trace();
    let cb = trace
        .iter()
        .find(|e| is_callback(e, "JobError"))
        .unwrap_or_else(|| panic!("{trace:#?}"));
    assert_eq!(cb["event"]["result"], "S_OK (0x00000000)", "{cb}");
    assert_eq!(
        cb["event"]["calls"],
        json!(["Cancel -> S_OK (0x00000000)"]),
        "{cb}"
    );
}

#[test]
fn a_failing_answer_is_called_again_by_the_model() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("missing", "http://cdn.test/nope", "/d/n");
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let mut n = 0;
    c.call_with("clock.advance", json!({"ms": 3_600_000}), &mut |_, m, _| {
        (m == "JobError").then(|| {
            n += 1;
            json!({"hresult": "E_FAIL"})
        })
    });
    // Re-called after the retry delay (600 s) while it keeps failing.
    assert!(n >= 5, "JobError was called {n} times in an hour");
    assert_eq!(c.state(&job), "ERROR");
}

#[test]
fn a_client_that_disconnects_mid_notification_is_a_dead_callback() {
    let s = tcp(Config::new(world(), 1));
    let mut app = Client::hello(&s, "alice", false);
    let mut driver = Client::hello(&s, "tester", true);
    let job = app.download("missing", "http://cdn.test/nope", "/d/n");
    app.bits("job.set_notify_interface", json!({"job": job}));
    app.bits("job.resume", json!({"job": job}));
    // The driver moves time; the app receives JobError and vanishes.
    let line = json!({"jsonrpc":"2.0","id":1,"method":"clock.advance","params":{"ms":3_600_000}});
    driver.send_line(&line.to_string());
    let n = app.read();
    assert_eq!(n["method"], "JobError", "{n}");
    drop(app);
    let r = driver.wait_for(1, &mut |_, _, _| None);
    assert_eq!(r["result"]["now"], 3_600_000, "{r}");
    let trace = driver.trace();
    let results: Vec<&Value> = trace
        .iter()
        .filter(|e| is_callback(e, "JobError"))
        .map(|e| &e["event"]["result"])
        .collect();
    assert!(!results.is_empty(), "{trace:#?}");
    assert!(
        results
            .iter()
            .all(|r| r.as_str().unwrap().starts_with("RPC_E_SERVER_UNAVAILABLE")),
        "{results:?}"
    );
    // The service goes on serving.
    assert_eq!(driver.state(&job), "ERROR");
}

#[test]
fn a_client_that_never_answers_times_out_and_time_moves_on() {
    let mut config = Config::new(world(), 1);
    config.callback_timeout = Duration::from_millis(300);
    let s = tcp(config);
    let mut app = Client::hello(&s, "alice", false);
    let mut driver = Client::hello(&s, "tester", true);
    let job = app.download("missing", "http://cdn.test/nope", "/d/n");
    app.bits("job.set_notify_interface", json!({"job": job}));
    app.bits("job.resume", json!({"job": job}));
    let r = driver.call_with("clock.advance", json!({"ms": 3_600_000}), &mut |_, _, _| {
        None
    });
    assert_eq!(r["result"]["now"], 3_600_000, "{r}");
    // One notification reached the silent app; after the timeout its object
    // counts as gone, so the re-calls fail at once.
    let n = app.read();
    assert_eq!(n["method"], "JobError", "{n}");
    let trace = driver.trace();
    let calls = trace.iter().filter(|e| is_callback(e, "JobError")).count();
    assert!(calls >= 2, "{trace:#?}");
    // A late answer is ignored; registering again works.
    app.answer(&n, "S_OK");
    let r = app.bits("job.set_notify_interface", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    let mut got = 0;
    app.call_with("clock.advance", json!({"ms": 600_000}), &mut |_, m, _| {
        got += usize::from(m == "JobError");
        Some(json!("S_OK"))
    });
    assert_eq!(got, 1);
}

#[test]
fn a_handler_cannot_move_the_clock_it_is_holding() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("missing", "http://cdn.test/nope", "/d/n");
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let mut err = None;
    c.call_with("clock.advance", json!({"ms": 60_000}), &mut |c, _, _| {
        err.get_or_insert_with(|| c.call("clock.advance", json!({"ms": 1})));
        Some(json!("S_OK"))
    });
    let err = err.unwrap();
    assert_eq!(error_code(&err), -32003, "{err}");
}

#[test]
fn many_concurrent_clients_as_different_users() {
    let s = tcp(Config::new(world(), 1));
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let mut c = Client::hello(&s, &format!("user{i}"), false);
            std::thread::spawn(move || {
                let job = c.create(&format!("job{i}"));
                c.bits(
                    "job.add_file",
                    json!({"job": job, "remote": "http://cdn.test/a.bin", "local": format!("/d/{i}")}),
                );
                c.bits("job.resume", json!({"job": job}));
                let r = c.bits("manager.enum_jobs", json!({}));
                assert_eq!(r["value"], json!([job]), "each user sees only their own job");
                job
            })
        })
        .collect();
    let jobs: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut admin = Client::hello(&s, "root", true);
    admin.bits("clock.advance", json!({"ms": 600_000}));
    for j in &jobs {
        assert_eq!(admin.state(j), "TRANSFERRED");
    }
    let r = admin.bits("inspect.jobs", json!({}));
    assert_eq!(r["jobs"].as_array().unwrap().len(), 64);
}

#[test]
fn stdio_transport_serves_one_client_until_its_input_ends() {
    let service = Service::start(Config::new(world(), 1));
    let (their_in, mut our_out) = std::io::pipe().unwrap();
    let (our_in, their_out) = std::io::pipe().unwrap();
    service.connector().connect(their_in, their_out);
    let mut reader = BufReader::new(our_in);
    let mut ask = |line: &str| {
        our_out.write_all(line.as_bytes()).unwrap();
        our_out.write_all(b"\n").unwrap();
        let mut s = String::new();
        reader.read_line(&mut s).unwrap();
        serde_json::from_str::<Value>(&s).unwrap()
    };
    let r = ask(r#"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"user":"alice"}}"#);
    assert_eq!(r["result"]["user"], "alice", "{r}");
    let r = ask(
        r#"{"jsonrpc":"2.0","id":2,"method":"manager.create_job","params":{"display_name":"x","job_type":"download"}}"#,
    );
    assert_eq!(r["result"]["hresult"]["name"], "S_OK", "{r}");
    drop(our_out);
    // The input ended: the service stops.
    service.wait();
}

#[test]
fn world_controls_reach_the_model() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("a", "http://cdn.test/b.bin", "/d/b");
    c.bits("world.network", json!({"up": false}));
    c.bits("job.resume", json!({"job": job}));
    c.bits("clock.advance", json!({"ms": 60_000}));
    assert_ne!(c.state(&job), "TRANSFERRED");
    c.bits("world.network", json!({"up": true}));
    c.bits("clock.advance", json!({"ms": 700_000}));
    assert_eq!(c.state(&job), "TRANSFERRED");
    let j2 = c.download("b", "http://cdn.test/b.bin", "/d/b2");
    c.bits("world.logoff", json!({"user": "alice"}));
    c.bits("job.resume", json!({"job": j2}));
    c.bits("clock.advance", json!({"ms": 60_000}));
    assert_ne!(c.state(&j2), "TRANSFERRED");
    c.bits("world.logon", json!({"user": "alice"}));
    c.bits("clock.advance", json!({"ms": 60_000}));
    assert_eq!(c.state(&j2), "TRANSFERRED");
    // A fault of the scenario format, from now on.
    let j3 = c.download("c", "http://cdn.test/a.bin", "/d/c");
    let r = c.call(
        "world.fault",
        json!({"kind": "http_status", "status": 404, "count": 1}),
    );
    assert!(r.get("error").is_none(), "{r}");
    c.bits("job.resume", json!({"job": j3}));
    c.bits("clock.advance", json!({"ms": 60_000}));
    assert_eq!(c.state(&j3), "ERROR");
    let r = c.bits("job.get_error", json!({"job": j3}));
    assert_eq!(r["value"]["code"]["name"], "BG_E_HTTP_ERROR_404", "{r}");
    let r = c.call("world.fault", json!({"kind": "http_status"}));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(error_message(&r).contains("needs a `status`"), "{r}");
    let r = c.call("world.fault", json!({"kind": "http_staus", "status": 404}));
    assert!(error_message(&r).contains("http_staus"), "{r}");
    c.bits("world.restart_service", json!({}));
    let r = c.bits("inspect.job", json!({"job": j2}));
    assert_eq!(r["state"], "TRANSFERRED", "{r}");
    let trace = c.trace();
    assert!(
        trace
            .iter()
            .any(|e| e["event"]["type"] == "fault" && e["event"]["what"] == "network down"),
        "{trace:#?}"
    );
}

/// The Python example (standard library only) tests its updater against
/// this service over TCP: up to 90 virtual days, the 404 cancelled, the
/// 503 outage (ERROR after 14 days) resumed until the update arrives.
#[test]
fn python_updater_example_passes() {
    let scenario = Scenario::parse(
        r#"
name = "updater world"
duration = "3650d"

[[servers]]
host = "updates.test"
files = { "/app-2.0.msi" = "5MB" }

# The CDN answers 503 for 30 days: BITS retries by itself, turns it into
# ERROR after 14 days without progress, and the updater resumes.
[[faults]]
kind = "http_status"
status = 503
url = "/app-2.0.msi"
until = "30d"
"#,
        "updater",
    )
    .unwrap();
    let out = updater_py(scenario);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok: update ACKNOWLEDGED"), "{stdout}");
}

#[test]
fn rpc_discover_lists_every_method_the_service_answers() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let doc = c.bits("rpc.discover", json!({}));
    assert_eq!(doc["openrpc"], "1.2.6");
    let names: Vec<String> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names.len(),
        bitsim_service::methods::CALLS.len() + bitsim_service::discover::SERVICE_METHODS.len()
    );
    for name in &names {
        // Every listed method exists: at worst its params are refused.
        let r = c.call(name, json!({"no_such_param": 1}));
        assert_ne!(r["error"]["code"], -32601, "{name}: {r}");
    }
    assert!(names.contains(&"job.set_notify_interface".to_owned()));
}

/// Polls `f` until it holds; fails after 30 s of wall time (a bound for a
/// broken service, not a measure: the tests assert on the trace).
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn transitions(trace: &[Value]) -> Vec<(u64, String, String)> {
    trace
        .iter()
        .filter(|e| e["event"]["type"] == "transition")
        .map(|e| {
            (
                e["at"].as_u64().unwrap(),
                e["event"]["from"].as_str().unwrap().to_owned(),
                e["event"]["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_scaled_clock_runs_the_model_by_itself() {
    let s = tcp(Config::new(world(), 1).with_clock(Clock::Scaled(3600.0)));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("retry", "http://nowhere.test/x", "/d/x");
    c.bits("job.resume", json!({"job": job}));
    // The name does not resolve: TRANSIENT_ERROR, retried 600 virtual
    // seconds later, a sixth of a real second at 3600x: nobody calls clock.*.
    wait_until("the retry", || {
        c.bits("job.get_error_count", json!({"job": job}))["value"]
            .as_u64()
            .unwrap()
            >= 2
    });
    let t = transitions(&c.trace());
    let failed = t.iter().find(|x| x.2 == "TRANSIENT_ERROR").unwrap().0;
    let retried = t
        .iter()
        .find(|x| x.1 == "TRANSIENT_ERROR")
        .unwrap_or_else(|| panic!("{t:?}"))
        .0;
    assert_eq!(retried - failed, 600_000, "{t:?}");
    // The clock is not the clients' to move, and the error says why.
    for (m, p) in [
        ("clock.advance", json!({"ms": 1})),
        ("clock.run_until", json!({"t": 1})),
        ("clock.run_until_idle", json!({"max": 1})),
    ] {
        let r = c.call(m, p);
        assert_eq!(error_code(&r), -32004, "{r}");
        assert!(error_message(&r).contains("scaled:3600"), "{r}");
    }
    let now = c.bits("clock.now", json!({}))["now"].as_u64().unwrap();
    assert!(now >= retried, "{now}");
}

#[test]
fn a_client_that_never_answers_does_not_stall_others_in_real_time() {
    let config = Config::new(world(), 1)
        .with_clock(Clock::Scaled(3600.0))
        .with_callback_timeout(Duration::from_secs(120));
    let s = tcp(config);
    let mut app = Client::hello(&s, "alice", false);
    let mut other = Client::hello(&s, "bob", false);
    let mut admin = Client::hello(&s, "root", true);
    let job = app.download("missing", "http://cdn.test/nope", "/d/n");
    app.bits("job.set_notify_interface", json!({"job": job}));
    app.bits("job.resume", json!({"job": job}));
    let mine = other.create("bob's");
    // The 404 is fatal: JobError goes to the app, which never answers.
    let n = app.read();
    assert_eq!(n["method"], "JobError", "{n}");
    // Meanwhile the others are served, and inspection shows the
    // notification held.
    assert_eq!(other.state(&mine), "SUSPENDED");
    let r = admin.bits("inspect.job", json!({"job": job}));
    assert_eq!(r["state"], "ERROR", "{r}");
    let out = r["outstanding"].as_array().unwrap();
    assert_eq!(out.len(), 1, "{r}");
    assert_eq!(out[0]["kind"], "JobError", "{r}");
    assert_eq!(out[0]["attempt"], 1, "{r}");
    assert_eq!(out[0]["user"], "alice", "{r}");
    // The app leaves: its object is dead, the model takes it from there.
    drop(app);
    wait_until("the dead callback", || {
        let r = admin.bits("inspect.job", json!({"job": job}));
        r["outstanding"].as_array().unwrap().is_empty()
    });
    let trace = admin.trace();
    let cb = trace.iter().find(|e| is_callback(e, "JobError")).unwrap();
    assert!(
        cb["event"]["result"]
            .as_str()
            .unwrap()
            .starts_with("RPC_E_SERVER_UNAVAILABLE"),
        "{cb}"
    );
}

#[test]
fn an_answer_in_real_time_is_fed_back_to_the_model() {
    let s = tcp(Config::new(world(), 1).with_clock(Clock::Scaled(3600.0)));
    let mut app = Client::hello(&s, "alice", false);
    let job = app.download("missing", "http://cdn.test/nope", "/d/n");
    app.bits("job.set_notify_interface", json!({"job": job}));
    app.bits("job.resume", json!({"job": job}));
    // The first JobError fails: the model calls again 600 s later (a sixth
    // of a second here), the second is answered S_OK and cancels the job.
    let mut calls = 0;
    while calls < 2 {
        let n = app.read();
        assert_eq!(n["method"], "JobError", "{n}");
        calls += 1;
        if calls == 2 {
            let r = app.bits("job.cancel", json!({"job": job}));
            assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
        }
        let hr = if calls == 1 { "E_FAIL" } else { "S_OK" };
        app.answer(&n, hr);
    }
    wait_until("the answer", || {
        app.trace()
            .iter()
            .filter(|e| is_callback(e, "JobError"))
            .count()
            == 2
    });
    let trace = app.trace();
    let cbs: Vec<&Value> = trace
        .iter()
        .filter(|e| is_callback(e, "JobError"))
        .collect();
    assert_eq!(cbs[0]["event"]["result"], "E_FAIL (0x80004005)", "{cbs:?}");
    assert_eq!(cbs[1]["event"]["result"], "S_OK (0x00000000)", "{cbs:?}");
    assert_eq!(
        cbs[1]["event"]["calls"],
        json!(["Cancel -> S_OK (0x00000000)"]),
        "{cbs:?}"
    );
    assert_eq!(app.state(&job), "CANCELLED");
}

#[test]
fn inspect_job_shows_outstanding_notifications_and_the_next_timer() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    let idle = c.create("idle");
    let r = c.bits("inspect.job", json!({"job": idle}));
    // Untouched: the model cancels it after the inactivity timeout (90 days).
    assert_eq!(r["next_timer"]["why"], "Inactivity", "{r}");
    assert_eq!(r["next_timer"]["at"], 90u64 * 86_400_000, "{r}");
    assert_eq!(r["outstanding"], json!([]), "{r}");
    let job = c.download("retry", "http://nowhere.test/x", "/d/x");
    c.bits("job.resume", json!({"job": job}));
    c.bits("clock.advance", json!({"ms": 5_000}));
    let t = transitions(&c.trace());
    let failed = t.iter().find(|x| x.2 == "TRANSIENT_ERROR").unwrap().0;
    let r = c.bits("inspect.job", json!({"job": job}));
    assert_eq!(r["state"], "TRANSIENT_ERROR", "{r}");
    assert_eq!(r["next_timer"]["why"], "Retry", "{r}");
    assert_eq!(r["next_timer"]["at"], failed + 600_000, "{r}");
    // A notification held by its handler shows in the handler's own view,
    // with its attempt; a failed one is called again (NotificationRetry).
    let missing = c.download("missing", "http://cdn.test/nope", "/d/n");
    c.bits("job.set_notify_interface", json!({"job": missing}));
    c.bits("job.resume", json!({"job": missing}));
    let mut seen = Vec::new();
    c.call_with("clock.advance", json!({"ms": 60_000}), &mut |c, m, p| {
        if m == "JobError" {
            let r = c.bits("inspect.job", json!({"job": p["job"]}));
            seen.push(r["outstanding"].clone());
        }
        Some(json!("E_FAIL"))
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0][0]["kind"], "JobError", "{seen:?}");
    assert_eq!(seen[0][0]["attempt"], 1, "{seen:?}");
    let r = c.bits("inspect.job", json!({"job": missing}));
    assert_eq!(r["outstanding"], json!([]), "{r}");
    assert_eq!(r["next_timer"]["why"], "NotificationRetry", "{r}");
    let mut attempts = Vec::new();
    c.call_with("clock.advance", json!({"ms": 600_000}), &mut |c, m, p| {
        if m == "JobError" {
            let r = c.bits("inspect.job", json!({"job": p["job"]}));
            attempts.push(r["outstanding"][0]["attempt"].clone());
        }
        Some(json!("S_OK"))
    });
    assert_eq!(attempts, [json!(2)]);
}

#[test]
fn world_clear_faults_ends_every_fault() {
    let scenario = Scenario::parse(
        &format!("{WORLD}\n[[faults]]\nkind = \"http_status\"\nstatus = 503\nurl = \"a.bin\"\n"),
        "w",
    )
    .unwrap();
    let s = tcp(Config::new(scenario, 1));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("a", "http://cdn.test/a.bin", "/d/a");
    c.bits("job.resume", json!({"job": job}));
    c.bits("clock.advance", json!({"ms": 3_600_000}));
    assert_eq!(c.state(&job), "TRANSIENT_ERROR");
    // Faults of several kinds, now and to come; a kind filter first.
    c.bits("world.fault", json!({"kind": "network_down"}));
    c.bits(
        "world.fault",
        json!({"kind": "logoff", "user": "alice", "at": "1h"}),
    );
    let r = c.bits("world.clear_faults", json!({"kind": "network_down"}));
    assert_eq!(r["cleared"], 1, "{r}");
    let r = c.call("world.clear_faults", json!({"kind": "network_dwn"}));
    assert_eq!(error_code(&r), -32602, "{r}");
    assert!(error_message(&r).contains("network_dwn"), "{r}");
    let r = c.bits("world.clear_faults", json!({}));
    assert_eq!(r["cleared"], 2, "the 503 and the logoff to come: {r}");
    let r = c.bits("world.clear_faults", json!({}));
    assert_eq!(r["cleared"], 0, "{r}");
    c.bits("clock.advance", json!({"ms": 7_200_000}));
    assert_eq!(c.state(&job), "TRANSFERRED");
    let faults: Vec<String> = c
        .trace()
        .iter()
        .filter(|e| e["event"]["type"] == "fault")
        .map(|e| e["event"]["what"].as_str().unwrap().to_owned())
        .collect();
    assert!(faults.contains(&"network back".to_owned()), "{faults:?}");
    assert!(
        !faults.iter().any(|f| f.contains("alice logs off")),
        "the logoff to come was dropped: {faults:?}"
    );
}

#[test]
fn shutdown_is_for_administrators_and_answers_before_the_service_stops() {
    let s = tcp(Config::new(world(), 1));
    let mut user = Client::hello(&s, "alice", false);
    let r = user.call("shutdown", json!({}));
    assert_eq!(error_code(&r), -32005, "{r}");
    assert!(error_message(&r).contains("administrator"), "{r}");
    let mut admin = Client::hello(&s, "root", true);
    let r = admin.bits("shutdown", json!({}));
    assert_eq!(r["stopping"], true, "{r}");
    ends_within(20, move || s.wait()).expect("the service stopped after shutdown");
}

#[test]
fn a_stopper_stops_the_service() {
    let s = tcp(Config::new(world(), 1));
    let mut c = Client::hello(&s, "alice", false);
    c.create("x");
    ends_within(20, move || s.stop()).expect("TcpService::stop returned");
}

#[test]
fn the_queue_persists_across_a_process_restart_as_a_bits_service_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = || Config::new(world(), 1).with_state_dir(&state);
    let s = TcpService::bind(config(), "127.0.0.1:0").unwrap();
    let mut c = Client::hello(&s, "alice", false);
    let idle = c.create("idle");
    let moving = c.download("moving", "http://cdn.test/b.bin", "/d/b");
    c.bits("job.set_notify_interface", json!({"job": moving}));
    c.bits("job.resume", json!({"job": moving}));
    let mut steps = 0;
    while c.state(&moving) != "TRANSFERRING" {
        c.bits("clock.advance", json!({"ms": 100}));
        steps += 1;
        assert!(steps < 100, "never TRANSFERRING");
    }
    c.bits("clock.advance", json!({"ms": 200}));
    assert_eq!(c.state(&moving), "TRANSFERRING");
    let progress = c.bits("job.get_progress", json!({"job": moving}));
    let now = c.bits("clock.now", json!({}))["now"].as_u64().unwrap();
    // The directory is this service's while it runs.
    let e = TcpService::bind(config(), "127.0.0.1:0")
        .err()
        .expect("locked");
    assert!(e.to_string().contains("in use by process"), "{e}");
    // The file is in the real-time driver's format, written as we go.
    let file: Value =
        serde_json::from_slice(&std::fs::read(state.join("queue.json")).unwrap()).unwrap();
    for key in ["epoch_unix_ms", "manager", "books", "service"] {
        assert!(file.get(key).is_some(), "{key}: {file}");
    }
    assert_eq!(file["service"]["virtual_now_ms"], now, "{file}");
    drop(c);
    s.stop();
    // One reader for the driver's queues and the service's.
    let q = bitsim::realtime::read_queue(&state.join("queue.json")).unwrap();
    assert_eq!(q.manager.all_jobs().count(), 2);

    let s = TcpService::bind(config(), "127.0.0.1:0").unwrap();
    let mut c = Client::hello(&s, "alice", false);
    assert_eq!(c.bits("clock.now", json!({}))["now"], now);
    assert_eq!(c.state(&idle), "SUSPENDED");
    // X2: the transfer went back to QUEUED (and the scheduler took it up
    // again), its progress kept; the callback registration is gone.
    let t = c.trace();
    assert!(
        transitions(&t)
            .iter()
            .any(|x| (x.1.as_str(), x.2.as_str()) == ("TRANSFERRING", "QUEUED")),
        "{t:?}"
    );
    let r = c.bits("inspect.job", json!({"job": moving}));
    assert_eq!(r["notify_interface"], Value::Null, "{r}");
    let after = c.bits("job.get_progress", json!({"job": moving}));
    assert_eq!(after["value"], progress["value"], "{after}");
    let t = c.trace();
    assert!(
        t.iter().any(|e| e["event"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("BITS service restarts"))),
        "{t:?}"
    );
    // New jobs do not reuse a GUID of the earlier process.
    let fresh = c.create("fresh");
    assert!(fresh != idle && fresh != moving);
    c.bits("clock.advance", json!({"ms": 600_000}));
    assert_eq!(c.state(&moving), "TRANSFERRED");
    drop(c);
    s.stop();
}

#[test]
fn a_stale_lock_is_taken_over_and_a_bad_queue_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A lock file left by a process that is gone means nothing (the lock
    // is the operating system's, released with its holder).
    std::fs::write(dir.path().join("queue.json.lock"), "999999\n").unwrap();
    let s = TcpService::bind(
        Config::new(world(), 1).with_state_dir(dir.path()),
        "127.0.0.1:0",
    )
    .unwrap();
    s.stop();
    std::fs::write(dir.path().join("queue.json"), "{not json").unwrap();
    let e = TcpService::bind(
        Config::new(world(), 1).with_state_dir(dir.path()),
        "127.0.0.1:0",
    )
    .err()
    .expect("a bad queue is refused");
    assert!(e.to_string().contains("queue.json"), "{e}");
    // The refusal let the lock go.
    bitsim::realtime::QueueLock::acquire(&dir.path().join("queue.json")).unwrap();
}

#[test]
fn in_real_time_a_silent_client_times_out_into_the_models_rule() {
    let config = Config::new(world(), 1)
        .with_clock(Clock::Scaled(3600.0))
        .with_callback_timeout(Duration::from_millis(300));
    let s = tcp(config);
    let mut app = Client::hello(&s, "alice", false);
    let mut admin = Client::hello(&s, "root", true);
    let job = app.download("missing", "http://cdn.test/nope", "/d/n");
    app.bits("job.set_notify_interface", json!({"job": job}));
    app.bits("job.resume", json!({"job": job}));
    let n = app.read();
    assert_eq!(n["method"], "JobError", "{n}");
    // No answer: after the timeout the object counts as gone, the call
    // failed (RPC_E_SERVER_UNAVAILABLE) and the model calls again later.
    wait_until("the timeout", || {
        admin.trace().iter().any(|e| is_callback(e, "JobError"))
    });
    let trace = admin.trace();
    let cb = trace.iter().find(|e| is_callback(e, "JobError")).unwrap();
    assert!(
        cb["event"]["result"]
            .as_str()
            .unwrap()
            .starts_with("RPC_E_SERVER_UNAVAILABLE"),
        "{cb}"
    );
    let r = admin.bits("inspect.job", json!({"job": job}));
    assert!(
        r["outstanding"].as_array().unwrap().is_empty()
            || r["outstanding"][0]["attempt"].as_u64() > Some(1),
        "{r}"
    );
    assert_eq!(r["state"], "ERROR", "{r}");
}

// --- `--world http`: real transfers by the real-time driver, over loopback
// against an in-process bitsim-server, to real local paths. ---

/// A bitsim-server serving `root` on 127.0.0.1, and a local directory.
struct HttpEnv {
    dir: tempfile::TempDir,
    root: std::path::PathBuf,
    local: std::path::PathBuf,
    addr: std::net::SocketAddr,
    _server: bitsim_server::ServerHandle,
    _rt: tokio::runtime::Runtime,
}

impl HttpEnv {
    fn new() -> HttpEnv {
        HttpEnv::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut bitsim_server::Config)) -> HttpEnv {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        let local = dir.path().join("local");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&local).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = bitsim_server::Config::new(&root);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut cfg);
        let server = rt.block_on(async {
            bitsim_server::Server::bind(cfg)
                .await
                .expect("bind")
                .spawn()
        });
        let addr = server.local_addr();
        HttpEnv {
            dir,
            root,
            local,
            addr,
            _server: server,
            _rt: rt,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn local(&self, name: &str) -> String {
        self.local.join(name).to_str().unwrap().to_owned()
    }

    /// What the local directory holds (a temporary file left behind would
    /// show here).
    fn local_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.local)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + u64::from(seed)) as u8)
        .collect()
}

fn http_config() -> Config {
    Config::default()
        .with_clock(Clock::Real)
        .with_world(World::Http)
}

/// Reads until the service sends a notification; returns it (unanswered).
fn next_notification(c: &mut Client) -> Value {
    let m = c.read();
    assert!(m.get("method").is_some(), "expected a notification: {m}");
    m
}

#[test]
fn world_http_downloads_real_bytes_and_notifies_over_the_socket() {
    let env = HttpEnv::new();
    let data = bytes(300_000, 7);
    std::fs::write(env.root.join("a.bin"), &data).unwrap();
    let s = tcp(http_config());
    let mut c = Client::hello(&s, "alice", false);
    let job = c.create("real");
    let dest = env.local("a.bin");
    let r = c.bits(
        "job.add_file",
        json!({"job": job, "remote": env.url("/a.bin"), "local": dest}),
    );
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let n = next_notification(&mut c);
    assert_eq!(n["method"], "JobTransferred", "{n}");
    assert_eq!(n["params"]["job"], json!(job), "{n}");
    c.answer(&n, "S_OK");
    assert_eq!(c.state(&job), "TRANSFERRED");
    // Not published before Complete: only the temporary file is there.
    assert!(!env.local.join("a.bin").exists());
    let r = c.bits("job.complete", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(c.state(&job), "ACKNOWLEDGED");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(env.local_files(), vec!["a.bin".to_owned()]);
    let r = c.bits("job.get_progress", json!({"job": job}));
    assert_eq!(r["value"]["bytes_transferred"], 300_000, "{r}");
    // inspect.* see the driver's model.
    let r = c.bits("inspect.jobs", json!({}));
    let jobs = r["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{r}");
    assert_eq!(jobs[0]["job"], json!(job), "{r}");
    assert_eq!(jobs[0]["state"], "ACKNOWLEDGED", "{r}");
    let r = c.bits("inspect.job", json!({"job": job}));
    assert_eq!(r["outstanding"], json!([]), "{r}");
    // The trace: the driver's transitions and the client's answer, in the
    // simulation's format.
    let trace = c.trace();
    let states: Vec<(String, String)> = transitions(&trace)
        .into_iter()
        .map(|(_, from, to)| (from, to))
        .collect();
    for step in [
        ("SUSPENDED", "QUEUED"),
        ("CONNECTING", "TRANSFERRING"),
        ("TRANSFERRING", "TRANSFERRED"),
        ("TRANSFERRED", "ACKNOWLEDGED"),
    ] {
        assert!(
            states.contains(&(step.0.to_owned(), step.1.to_owned())),
            "{step:?} not in {states:?}"
        );
    }
    let cbs: Vec<&Value> = trace
        .iter()
        .filter(|e| is_callback(e, "JobTransferred"))
        .collect();
    assert_eq!(cbs.len(), 1, "{trace:?}");
    assert_eq!(cbs[0]["event"]["result"], "S_OK (0x00000000)", "{cbs:?}");
    // Jobs are named by their GUID, as the simulated world's trace names
    // the service's jobs.
    assert_eq!(
        cbs[0]["job"],
        format!("{{{}}}", job.to_uppercase()),
        "{cbs:?}"
    );
}

#[test]
fn world_http_a_404_is_job_error_with_the_http_status() {
    let env = HttpEnv::new();
    let s = tcp(http_config());
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("missing", env.url("/nope.bin"), env.local("nope.bin"));
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let n = next_notification(&mut c);
    assert_eq!(n["method"], "JobError", "{n}");
    let code = &n["params"]["error"]["code"];
    assert_eq!(code["name"], "BG_E_HTTP_ERROR_404", "{n}");
    // The handler cancels, as an updater does on 404.
    let r = c.bits("job.cancel", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    c.answer(&n, "S_OK");
    assert_eq!(c.state(&job), "CANCELLED");
    assert_eq!(env.local_files(), Vec::<String>::new());
    wait_until("the answer in the trace", || {
        c.trace().iter().any(|e| is_callback(e, "JobError"))
    });
    let trace = c.trace();
    let cb = trace.iter().find(|e| is_callback(e, "JobError")).unwrap();
    assert_eq!(
        cb["event"]["calls"],
        json!(["Cancel -> S_OK (0x00000000)"]),
        "{cb}"
    );
}

#[test]
fn world_http_uploads_real_bytes() {
    let env = HttpEnv::new();
    let data = bytes(200_000, 3);
    let src = env.local("up.bin");
    std::fs::write(&src, &data).unwrap();
    let s = tcp(http_config());
    let mut c = Client::hello(&s, "bob", false);
    let r = c.bits(
        "manager.create_job",
        json!({"display_name": "up", "job_type": "upload"}),
    );
    let job = r["value"].as_str().unwrap().to_owned();
    c.bits(
        "job.add_file",
        json!({"job": job, "remote": env.url("/up.bin"), "local": src}),
    );
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let n = next_notification(&mut c);
    assert_eq!(n["method"], "JobTransferred", "{n}");
    c.answer(&n, "S_OK");
    let r = c.bits("job.complete", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(c.state(&job), "ACKNOWLEDGED");
    assert_eq!(std::fs::read(env.root.join("up.bin")).unwrap(), data);
}

#[test]
fn world_http_upload_reply_brings_the_reply_back() {
    // The server's built-in echo application: the reply is the upload.
    let env = HttpEnv::with(|c| {
        c.reply.push(bitsim_server::ReplyRoute {
            prefix: "/echo/".into(),
            app: bitsim_server::ReplyApp::Echo {
                copy_to_destination: false,
            },
        })
    });
    let data = bytes(120_000, 9);
    let src = env.local("q.bin");
    std::fs::write(&src, &data).unwrap();
    let out = env.local("reply.bin");
    let s = tcp(http_config());
    let mut c = Client::hello(&s, "bob", false);
    let r = c.bits(
        "manager.create_job",
        json!({"display_name": "ask", "job_type": "upload-reply"}),
    );
    let job = r["value"].as_str().unwrap().to_owned();
    c.bits(
        "job.add_file",
        json!({"job": job, "remote": env.url("/echo/q.bin"), "local": src}),
    );
    let r = c.bits("job.set_reply_file_name", json!({"job": job, "name": out}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    c.bits("job.set_notify_interface", json!({"job": job}));
    c.bits("job.resume", json!({"job": job}));
    let n = next_notification(&mut c);
    assert_eq!(n["method"], "JobTransferred", "{n}");
    c.answer(&n, "S_OK");
    let r = c.bits("job.get_reply_progress", json!({"job": job}));
    assert_eq!(r["value"]["bytes_transferred"], 120_000, "{r}");
    let r = c.bits("job.complete", json!({"job": job}));
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(std::fs::read(&out).unwrap(), data, "the echo is the upload");
    assert_eq!(
        env.local_files(),
        vec!["q.bin".to_owned(), "reply.bin".to_owned()]
    );
}

#[test]
fn world_http_refuses_the_simulated_worlds_controls_and_a_virtual_clock() {
    let s = tcp(http_config());
    let mut c = Client::hello(&s, "root", true);
    for (method, params) in [
        ("world.fault", json!({"kind": "network_down"})),
        ("world.network", json!({"up": false})),
        ("world.clear_faults", json!({})),
        ("world.restart_service", json!({})),
    ] {
        let r = c.call(method, params);
        assert_eq!(error_code(&r), -32006, "{method}: {r}");
        assert!(error_message(&r).contains(method), "{r}");
    }
    let r = c.call("world.fault", json!({"kind": "network_down"}));
    assert!(error_message(&r).contains("fault API"), "{r}");
    let r = c.call("world.restart_service", json!({}));
    assert!(error_message(&r).contains("--state"), "{r}");
    let r = c.call("clock.advance", json!({"ms": 1000}));
    assert_eq!(error_code(&r), -32004, "{r}");
    // Logon and logoff are the model's events: taken.
    let r = c.call("world.logoff", json!({"user": "alice"}));
    assert!(r.get("error").is_none(), "{r}");
    let trace = c.trace();
    assert!(
        trace.iter().any(|e| e["event"]["what"] == "alice logs off"),
        "{trace:?}"
    );
    // The rule: the real clock only.
    for clock in [Clock::Virtual, Clock::Scaled(60.0)] {
        let e = match Service::try_start(http_config().with_clock(clock)) {
            Ok(_) => panic!("--world http started with {clock}"),
            Err(e) => e,
        };
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("needs --clock real"), "{e}");
    }
}

#[test]
fn world_http_persists_its_queue_in_the_state_dir() {
    let env = HttpEnv::new();
    let state = env.dir.path().join("state");
    let s = tcp(http_config().with_state_dir(&state));
    let mut c = Client::hello(&s, "alice", false);
    let job = c.download("kept", env.url("/a.bin"), env.local("a.bin"));
    // The driver holds the queue's lock: no second service on it.
    let e = match Service::try_start(http_config().with_state_dir(&state)) {
        Ok(_) => panic!("a second service took a locked queue"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), std::io::ErrorKind::ResourceBusy, "{e}");
    drop(c);
    s.stop();
    let text = std::fs::read_to_string(state.join("queue.json")).unwrap();
    assert!(text.contains(&job), "{text}");
    // A new process on the directory takes the queue over (X2).
    let s = tcp(http_config().with_state_dir(&state));
    let mut c = Client::hello(&s, "alice", false);
    assert_eq!(c.state(&job), "SUSPENDED");
    let r = c.bits("job.get_display_name", json!({"job": job}));
    assert_eq!(r["value"], "kept", "{r}");
    s.stop();
}

#[test]
fn world_http_service_ends_when_every_handle_is_gone() {
    // The driver's waker holds the loop's channel weakly: with no
    // connection, connector or stopper left, the loop ends as in the
    // simulated world.
    let s = Service::try_start(http_config()).unwrap();
    ends_within(30, move || s.wait()).expect("the service ended");
}

/// `examples/updater.py` run against a service on `scenario` (seed 1).
fn updater_py(scenario: Scenario) -> std::process::Output {
    let s = tcp(Config::new(scenario, 1));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/updater.py");
    std::process::Command::new("python3")
        .arg(script)
        .arg(s.local_addr().to_string())
        .output()
        .expect("python3 runs the example (install python3)")
}

/// The Python test really fails when the updater is wrong: the same script
/// against a world where the "missing" version exists (so the updater
/// cannot have cancelled it) exits non-zero with its assertion.
#[test]
fn python_updater_example_fails_when_the_updater_is_wrong() {
    let scenario = Scenario::parse(
        r#"
name = "updater world, 1.9 still there"
duration = "3650d"

[[servers]]
host = "updates.test"
files = { "/app-2.0.msi" = "5MB", "/app-1.9.msi" = "5MB" }
"#,
        "updater",
    )
    .unwrap();
    let out = updater_py(scenario);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("AssertionError"), "{stderr}");
    assert!(stderr.contains("'gone': 'ACKNOWLEDGED'"), "{stderr}");
    assert!(!stdout.contains("ok:"), "{stdout}");
}

/// The README's `nc` session, between its markers: the lines a client
/// types (requests with a number as id, answers to the service's
/// requests) go to `nc` as written, against a service started as
/// `bitsim service --listen` starts it (no scenario, seed 0), and what
/// comes back is every other line, as written. Needs `nc` (netcat-openbsd;
/// `.ci/run` installs it): missing under `CI=true`, the test fails.
#[test]
fn readme_nc_session_runs_as_shown() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the workspace README");
    let block = readme
        .split("<!-- service-nc:start -->\n```sh\n")
        .nth(1)
        .and_then(|b| b.split("```\n<!-- service-nc:end -->").next())
        .expect("the session between its markers");
    assert!(
        block.contains("$ bitsim service --listen 127.0.0.1:7300 &\n$ nc 127.0.0.1 7300\n"),
        "{block}"
    );
    let (mut typed, mut shown) = (String::new(), Vec::new());
    for line in block.lines().filter(|l| !l.starts_with('$')) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON-RPC line ({e}): {line}"));
        let from_client = (v.get("method").is_some() && v["id"].is_number())
            || (v.get("result").is_some() && v["id"].is_string());
        // As the README tells them apart.
        assert_eq!(from_client, line.starts_with("{\"jsonrpc\""), "{line}");
        if from_client {
            typed.push_str(line);
            typed.push('\n');
        } else {
            shown.push(line);
        }
    }
    assert!(typed.lines().count() >= 5 && shown.len() >= 5, "{block}");
    let nc = std::process::Command::new("nc").arg("-h").output();
    if nc.is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nc is missing: install netcat-openbsd (.ci/run does)"
        );
        eprintln!("skipped: no nc on this machine (install netcat-openbsd)");
        return;
    }
    let s = tcp(Config::default());
    let port = s.local_addr().port().to_string();
    // -N: end the connection when the typed lines end; -w: never hang.
    let mut child = std::process::Command::new("nc")
        .args(["-N", "-w", "20", "127.0.0.1", &port])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nc runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        shown,
        "the service's lines differ from the README's; they are now:\n{stdout}"
    );
}

/// Runs `f` on a thread of its own: `Ok` when it returns within `secs`
/// seconds, `Err` when it has not (a hang fails the test instead of
/// stopping it).
fn ends_within(
    secs: u64,
    f: impl FnOnce() + Send + 'static,
) -> Result<(), std::sync::mpsc::RecvTimeoutError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs))
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn hello_epoch(s: &TcpService) -> u64 {
    let mut c = Client::tcp(s);
    let r = c.call("session.hello", json!({"user": "alice"}));
    r["result"]["epoch_unix_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no epoch_unix_ms in {r}"))
}

#[test]
fn hello_tells_where_virtual_time_zero_is_on_the_calendar() {
    // Virtual: a fixed instant, never the wall clock.
    let s = tcp(Config::new(world(), 1));
    assert_eq!(hello_epoch(&s), bitsim_service::VIRTUAL_EPOCH_UNIX_MS);
    assert_eq!(
        bitsim_service::VIRTUAL_EPOCH_UNIX_MS,
        946_684_800_000,
        "2000-01-01T00:00:00Z"
    );

    // Scaled (and real): the wall-clock instant the service started.
    let before = unix_ms_now();
    let s = tcp(Config::new(world(), 1).with_clock(Clock::Scaled(3600.0)));
    let epoch = hello_epoch(&s);
    assert!(
        (before..=unix_ms_now()).contains(&epoch),
        "{before} {epoch}"
    );

    // With --state, the first start's instant stays across restarts.
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::new(world(), 1)
            .with_clock(Clock::Real)
            .with_state_dir(dir.path())
    };
    let s = tcp(config());
    let first = hello_epoch(&s);
    s.stopper().stop();
    s.wait();
    std::thread::sleep(Duration::from_millis(20));
    let s = tcp(config());
    assert_eq!(hello_epoch(&s), first);

    // The http world: the real-time driver's epoch, the wall clock's.
    let before = unix_ms_now();
    let s = tcp(http_config());
    let epoch = hello_epoch(&s);
    assert!(
        (before..=unix_ms_now()).contains(&epoch),
        "{before} {epoch}"
    );
}

/// `Config::launcher` (`--launcher`): the http world starts a job's
/// notification command line as `LAUNCHER ARGS... PROGRAM PARAMETERS...`.
/// The launcher here is a real process, a bash script that records its
/// argv and then does what `bitsadmin /complete {GUID}` does: it connects
/// to the service as the user the launcher names in `BITSIM_USER`
/// (`Launcher::user_var`: the job's owner, who set the command line) and
/// completes the job, which only its owner may do. The program
/// the job names is a Windows path that does not exist here: only the
/// launcher makes the command line run. GetNotifyCmdLine returns what the
/// owner set.
#[test]
fn world_http_runs_command_lines_through_the_launcher() {
    use std::os::unix::fs::PermissionsExt;
    let env = HttpEnv::new();
    let data = bytes(50_000, 9);
    std::fs::write(env.root.join("c.bin"), &data).unwrap();
    let script = env.dir.path().join("complete.sh");
    std::fs::write(
        &script,
        r#"#!/bin/bash
# complete.sh -- PROGRAM /complete GUID: records its argv and $BITSIM_USER,
# then completes the job as that user through the service whose address is
# in $ADDR_FILE.
printf '%s\n' "$@" "user=$BITSIM_USER" > "$OUT"
user=$BITSIM_USER guid=$4
addr=$(cat "$ADDR_FILE")
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" || exit 3
printf '{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"user":"%s"}}\n' "$user" >&3
read -r hello <&3
printf '{"jsonrpc":"2.0","id":2,"method":"job.complete","params":{"job":"%s"}}\n' "$guid" >&3
read -r done <&3
case $done in *'"S_OK"'*) exit 0 ;; *) echo "$done" >&2; exit 1 ;; esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.dir.path().join("argv.txt");
    let addr_file = env.dir.path().join("addr.txt");
    let launcher = bitsim::realtime::Launcher::new(&script)
        .arg("--")
        .user_var("BITSIM_USER")
        .env("OUT", &out)
        .env("ADDR_FILE", &addr_file);
    let s = tcp(http_config().with_launcher(launcher));
    std::fs::write(&addr_file, s.local_addr().to_string()).unwrap();
    let mut c = Client::hello(&s, "alice", false);
    let dest = env.local("c.bin");
    let job = c.download("cmd", env.url("/c.bin"), &dest);
    let program = r"C:\windows\System32\bitsadmin.exe";
    let parameters = format!("bitsadmin.exe /complete {job}");
    c.bits(
        "job.set_notify_cmd_line",
        json!({"job": job, "program": program, "parameters": parameters}),
    );
    c.bits("job.resume", json!({"job": job}));
    wait_until("the command line's Complete", || {
        c.state(&job) == "ACKNOWLEDGED"
    });
    assert_eq!(std::fs::read(&dest).unwrap(), data, "published");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("--\n{program}\n/complete\n{job}\nuser=alice\n"),
        "the launcher's argument, the program and its parameters; the job's owner in BITSIM_USER"
    );
    let r = c.bits("job.get_notify_cmd_line", json!({"job": job}));
    assert_eq!(r["value"], json!([program, parameters]), "{r}");
}
