//! The COM multithreaded apartment outlives the thread that created the
//! backend (Windows and Wine, feature `real-windows`).
//!
//! BITS calls a job's callback object through the MTA of the process. If
//! the only thread in the MTA was the one that created the `WinBackend`,
//! the MTA is torn down when that thread exits, and BITS's later calls
//! fail inside RPC (Wine: `I_RpcReceive` fault `0x1c010003`) and never
//! arrive. `WinBackend::new` therefore takes a process-wide reference on
//! the MTA (`CoIncrementMTAUsage`). This test lives in its own binary so
//! nothing else in the process has joined the MTA first.
#![cfg(all(windows, feature = "real-windows"))]

use bitsim::JobAccess;
use bitsim::backend::Backend;
use bitsim_model::{Hresult, JobType};
use bitsim_windows::WinBackend;
use bitsim_windows::conformance::{Harness, Recorder};
use bitsim_windows::real::RealHarness;
use std::time::{Duration, Instant};

#[test]
fn callback_arrives_after_the_creating_thread_exited() {
    let mut h = RealHarness::new().expect("harness");
    h.serve(&[("/mta.bin", 10_000)]);
    let (url, local) = (h.url("/mta.bin"), h.local_path("mta.bin"));
    let (rec, seen) = Recorder::completing();
    let creator = std::thread::spawn(move || {
        // The only thread of this process that ever joins the MTA; it ends
        // right after Resume, long before the transfer is done.
        let mut b = WinBackend::new().expect("connect to BITS");
        let job = b.create_job("mta-lifetime", JobType::Download).unwrap();
        b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
        b.add_file(job, &url, &local).unwrap();
        b.resume(job).unwrap();
    });
    creator.join().expect("the creating thread");
    let start = Instant::now();
    while seen.lock().unwrap().completed.is_empty() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen.lock().unwrap().completed,
        [Ok(Hresult::S_OK)],
        "JobTransferred never arrived once the creating thread had exited: {:?}",
        seen.lock().unwrap().calls
    );
    assert!(
        std::path::Path::new(&h.local_path("mta.bin")).is_file(),
        "Complete from the callback did not publish the file"
    );
}
