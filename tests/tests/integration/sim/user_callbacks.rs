//! A user's own Rust callback plugged into a scenario, calling job methods
//! from inside like a real IBackgroundCopyCallback.

use bitsim::{Callback, CallbackResult, JobHandle, Scenario, Simulation};
use bitsim_model::{ErrorInfo, Hresult};
use std::sync::{Arc, Mutex};

const SCENARIO: &str = r#"
name = "user callback"
duration = "1d"
[[servers]]
host = "h.example.com"
files = { "/ok" = "10KB" }
[callbacks.mine]
[[jobs]]
name = "ok"
owner = "u"
files = [{ remote = "http://h.example.com/ok", local = "/d/ok" }]
callback = "mine"
[[jobs]]
name = "missing"
owner = "u"
files = [{ remote = "http://h.example.com/missing", local = "/d/missing" }]
callback = "mine"
"#;

#[derive(Default)]
struct Log(Vec<String>);

struct Mine(Arc<Mutex<Log>>);

impl Callback for Mine {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let hr = job.complete().expect("Complete in TRANSFERRED succeeds");
        self.0
            .lock()
            .unwrap()
            .0
            .push(format!("transferred {} -> {hr}", job.display_name()));
        CallbackResult::ok()
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        self.0.lock().unwrap().0.push(format!(
            "error {} {} {}",
            job.display_name(),
            error.context,
            error.code
        ));
        job.cancel().expect("Cancel in ERROR succeeds");
        CallbackResult::ok()
    }
}

#[test]
fn a_rust_callback_sees_the_job_and_can_remedy_it() {
    let log = Arc::new(Mutex::new(Log::default()));
    let mut sim = Simulation::new(Scenario::parse(SCENARIO, "inline").unwrap(), 3);
    sim.set_callback("mine", Box::new(Mine(log.clone())))
        .unwrap();
    let ok = sim.job_id("ok");
    assert!(ok.is_none(), "jobs are created when the run starts");
    let report = sim.run();
    let log = log.lock().unwrap();
    assert_eq!(
        log.0,
        // One background job at a time, first come first served: "ok"
        // finishes before "missing" is tried.
        vec![
            format!("transferred ok -> {}", Hresult::S_OK),
            format!("error missing REMOTE_FILE {}", Hresult::http(404)),
        ]
    );
    let text = report.trace.to_text();
    assert!(text.contains("ERROR -> CANCELLED"), "{text}");
    assert!(text.contains("TRANSFERRED -> ACKNOWLEDGED"), "{text}");
}
