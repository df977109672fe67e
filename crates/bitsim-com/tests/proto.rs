//! The COM server's client of `bitsim service` ([`bitsim_com::proto`])
//! against a real service over loopback TCP: what the Windows objects
//! forward, checked on Linux.

use bitsim::Scenario;
use bitsim_com::proto::{self, Connection, Handler, Notification};
use bitsim_model::{Hresult, JobState, JobType, Reply};
use bitsim_service::{Config, TcpService};
use serde_json::json;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WORLD: &str = r#"
name = "bitsim-com proto test"
duration = "3650d"

[[servers]]
host = "updates.test"
files = { "/app.msi" = "1MB" }
"#;

fn service() -> TcpService {
    let scenario = Scenario::parse(WORLD, "world").unwrap();
    TcpService::bind(Config::new(scenario, 7), "127.0.0.1:0").unwrap()
}

fn quiet() -> Handler {
    Box::new(|_, _| Hresult::S_OK)
}

fn create(c: &Connection) -> bitsim_model::JobId {
    match c
        .bits(
            "manager.create_job",
            json!({"display_name": "u", "job_type": JobType::Download}),
        )
        .unwrap()
    {
        Reply::Job(j) => j,
        r => panic!("{r:?}"),
    }
}

/// A control connection that drives the virtual clock, as a test would.
fn advance(addr: std::net::SocketAddr, ms: u64) {
    let control = Connection::connect(addr, "test", true, quiet()).unwrap();
    control.call("clock.advance", json!({"ms": ms})).unwrap();
}

#[test]
fn bits_failures_come_back_with_their_exact_hresult() {
    let s = service();
    let c = Connection::connect(s.local_addr(), "alice", false, quiet()).unwrap();
    let job = create(&c);
    // Resume without files: BG_E_EMPTY, from the model, unchanged.
    let e = c.bits("job.resume", json!({"job": job})).unwrap_err();
    assert_eq!(e.hresult, Hresult::BG_E_EMPTY, "{e}");
    // Another user's job: E_ACCESSDENIED.
    let bob = Connection::connect(s.local_addr(), "bob", false, quiet()).unwrap();
    let e = bob.bits("job.get_state", json!({"job": job})).unwrap_err();
    assert_eq!(e.hresult, Hresult::E_ACCESSDENIED, "{e}");
    // A success code other than S_OK is a reply, not an error.
    c.bits(
        "job.add_file",
        json!({"job": job, "remote": "http://updates.test/app.msi", "local": "C:\\app.msi"}),
    )
    .unwrap();
    assert_eq!(
        c.bits("job.get_state", json!({"job": job})).unwrap(),
        Reply::State(JobState::Suspended)
    );
}

#[test]
fn protocol_misuse_is_e_invalidarg_with_the_services_message() {
    let s = service();
    let c = Connection::connect(s.local_addr(), "alice", false, quiet()).unwrap();
    let e = c
        .bits("job.get_state", json!({"job": "not a guid"}))
        .unwrap_err();
    assert_eq!(e.hresult, Hresult::E_INVALIDARG, "{e}");
    assert!(e.message.contains("\"job\""), "{e}");
}

#[test]
fn a_notification_reaches_the_handler_and_its_hresult_goes_back() {
    let s = service();
    let (tx, rx) = mpsc::channel::<Notification>();
    let tx = Mutex::new(tx);
    // The handler calls the service from inside the notification, as a
    // COM callback that calls Complete does, and fails the first call.
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let handler: Handler = Box::new(move |conn, n| {
        let _ = tx.lock().unwrap().send(n.clone());
        let mut k = seen.lock().unwrap();
        *k += 1;
        if *k == 1 {
            return Hresult::E_FAIL;
        }
        conn.bits("job.complete", json!({"job": n.job})).unwrap();
        Hresult::S_OK
    });
    let c = Connection::connect(s.local_addr(), "alice", false, handler).unwrap();
    let job = create(&c);
    c.bits(
        "job.add_file",
        json!({"job": job, "remote": "http://updates.test/app.msi", "local": "C:\\app.msi"}),
    )
    .unwrap();
    c.bits("job.set_notify_interface", json!({"job": job}))
        .unwrap();
    c.bits("job.resume", json!({"job": job})).unwrap();
    // The transfer, then the model's re-call of the failed JobTransferred
    // (its retry delay is well within a day).
    advance(s.local_addr(), 86_400_000);
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.method, "JobTransferred");
    assert_eq!(first.job, job);
    let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second.method, "JobTransferred", "re-called after E_FAIL");
    assert_eq!(
        c.bits("job.get_state", json!({"job": job})).unwrap(),
        Reply::State(JobState::Acknowledged)
    );
}

#[test]
fn a_service_that_is_gone_fails_calls_quickly_with_rpc_server_unavailable() {
    // Nothing listens on the port of a service that was bound and dropped.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = Connection::connect(addr, "alice", false, quiet()).unwrap_err();
    assert_eq!(e.hresult, proto::SERVICE_GONE);
    assert!(e.message.contains("cannot connect"), "{e}");

    // A connection whose peer closes: the waiting call ends, later calls fail
    // at once.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        // Read the hello, then hang up without answering.
        let mut r = std::io::BufReader::new(&s);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut r, &mut line).unwrap();
        drop(s);
    });
    let e = Connection::connect(addr, "alice", false, quiet()).unwrap_err();
    peer.join().unwrap();
    assert_eq!(e.hresult, proto::SERVICE_GONE, "{e}");
    assert!(e.message.contains("session.hello"), "{e}");
}

/// Five jobs whose JobTransferred callbacks take their time, on a service
/// whose clock runs by itself (scaled): the handler is called for up to
/// four at once, never five (the model's four notifications per user), and
/// the fifth comes once one is answered. With one handler thread the
/// program would never see more than one call at a time.
#[test]
fn slow_callbacks_are_called_four_at_a_time() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let scenario = Scenario::parse(WORLD, "world").unwrap();
    let config = Config::new(scenario, 7).with_clock(bitsim_service::Clock::Scaled(600.0));
    let s = TcpService::bind(config, "127.0.0.1:0").unwrap();
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (n2, m2, c2) = (now.clone(), most.clone(), calls.clone());
    let handler: Handler = Box::new(move |conn, n| {
        let at_once = n2.fetch_add(1, Ordering::SeqCst) + 1;
        m2.fetch_max(at_once, Ordering::SeqCst);
        c2.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(700));
        conn.bits("job.complete", json!({"job": n.job})).unwrap();
        n2.fetch_sub(1, Ordering::SeqCst);
        Hresult::S_OK
    });
    let c = Connection::connect(s.local_addr(), "alice", false, handler).unwrap();
    let mut jobs = Vec::new();
    for i in 0..5 {
        let job = create(&c);
        c.bits(
            "job.add_file",
            json!({"job": job, "remote": "http://updates.test/app.msi",
                   "local": format!("C:\\app{i}.msi")}),
        )
        .unwrap();
        c.bits("job.set_notify_interface", json!({"job": job}))
            .unwrap();
        jobs.push(job);
    }
    for job in &jobs {
        c.bits("job.resume", json!({"job": job})).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while calls.load(Ordering::SeqCst) < 5 || now.load(Ordering::SeqCst) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} calls",
            calls.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(most.load(Ordering::SeqCst), 4, "calls outstanding at once");
    for job in &jobs {
        assert_eq!(
            c.bits("job.get_state", json!({"job": job})).unwrap(),
            Reply::State(JobState::Acknowledged)
        );
    }
}

#[test]
fn get_times_become_filetimes_on_the_services_calendar() {
    let s = service();
    let c = Connection::connect(s.local_addr(), "alice", false, quiet()).unwrap();
    assert_eq!(
        c.epoch_unix_ms(),
        Some(bitsim_service::VIRTUAL_EPOCH_UNIX_MS)
    );
    advance(s.local_addr(), 90_000);
    let job = create(&c);
    let Reply::Times(t) = c.bits("job.get_times", json!({"job": job})).unwrap() else {
        panic!("not times")
    };
    assert_eq!(t.creation_time.as_millis(), 90_000);
    assert_eq!(t.transfer_completion_time, None);
    // 2000-01-01T00:01:30Z as a FILETIME.
    assert_eq!(
        proto::filetime(c.epoch_unix_ms().unwrap(), t.creation_time),
        125_911_584_000_000_000 + 90 * 10_000_000
    );
}
