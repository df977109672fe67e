//! The portable `Backend` API over the real-time driver: the same calls
//! that run on the simulator move real bytes.

use std::time::Duration;

use bitsim::backend::Backend;
use bitsim::realtime::{RtBackend, RtConfig};
use bitsim::{Callback, CallbackResult, JobAccess, JobHandle};
use bitsim_model::{ErrorInfo, Hresult, JobState, JobType};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::common::{make_file, server_config, sha};

struct Errors(Arc<AtomicUsize>);
impl Callback for Errors {
    fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = job.cancel();
        CallbackResult::ok()
    }
}

/// Plain `#[test]`: `RtBackend` blocks on a runtime of its own, so the
/// server runs on a second one.
#[test]
fn backend_download_and_404_with_callback() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    make_file(&root.join("b.bin"), 200_000, 6);
    let server = server_rt.block_on(async {
        bitsim_server::Server::bind(server_config(&root, "127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap()
            .spawn()
    });
    let addr = server.local_addr();
    let mut bits = RtBackend::new(RtConfig::default(), "tester").unwrap();
    let wait = Duration::from_secs(240);

    let dest = dir.path().join("b.bin");
    let job = bits.create_job("backend", JobType::Download).unwrap();
    bits.add_file(job, &format!("http://{addr}/b.bin"), dest.to_str().unwrap())
        .unwrap();
    bits.resume(job).unwrap();
    let st = bits.wait_for(job, wait, &|s| {
        s == JobState::Transferred || s == JobState::Error
    });
    assert_eq!(st, JobState::Transferred);
    assert_eq!(bits.complete(job).unwrap(), Hresult::S_OK);
    assert_eq!(sha(&dest), sha(&root.join("b.bin")));

    let calls = Arc::new(AtomicUsize::new(0));
    let job = bits.create_job("missing", JobType::Download).unwrap();
    bits.add_file(
        job,
        &format!("http://{addr}/nope"),
        dir.path().join("n").to_str().unwrap(),
    )
    .unwrap();
    bits.set_notify_interface(job, Some(Box::new(Errors(calls.clone()))))
        .unwrap();
    bits.resume(job).unwrap();
    let st = bits.wait_for(job, wait, &|s| s == JobState::Cancelled);
    assert_eq!(st, JobState::Cancelled, "JobError cancelled the job");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server_rt.block_on(async { server.shutdown().await.unwrap() });
}
