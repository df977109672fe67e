//! Real-time transfer throughput over loopback (the `realtime` driver
//! against an in-process `bitsim-server`) next to the raw file-copy rate of
//! the same machine, measured in the same run.
//!
//! `cargo bench -p bitsim --bench transfer`
//!
//! Each iteration moves 64 MiB: `raw_copy` is `std::fs::copy` of the file;
//! `download` and `upload` are whole BITS jobs (create, resume, transfer,
//! Complete) through the driver, with the server's default `durability = "process-kill"` so the
//! comparison is with page-cache writes on both sides.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bitsim::realtime::{Driver, RtConfig};
use bitsim_model::{Caller, JobState};
use bitsim_server::{Config, Server};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TOTAL: u64 = 64 * 1024 * 1024;

fn make_file(path: &Path) {
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(path, data).expect("write source");
}

async fn run_job(url: String, local: PathBuf, upload: bool) {
    let me = Caller::user("bench");
    let mut d = Driver::open(RtConfig::default()).expect("driver");
    let job = if upload {
        d.upload(&me, &local, &url, None).expect("job")
    } else {
        d.download(&me, &url, &local).expect("job")
    };
    d.call(|m, now| m.resume(now, &me, job)).expect("resume");
    d.run_until(Duration::from_secs(600), |m| {
        m.job(job)
            .is_none_or(|j| j.state == JobState::Transferred || j.state == JobState::Error)
    })
    .await;
    assert_eq!(
        d.manager().job(job).map(|j| j.state),
        Some(JobState::Transferred)
    );
    d.complete(&me, job).expect("complete");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("srv");
    let local = dir.path().join("local");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::create_dir_all(&local).expect("local");
    make_file(&root.join("src.bin"));
    make_file(&local.join("src.bin"));
    let mut cfg = Config::new(&root);
    cfg.durability = bitsim_server::Durability::ProcessKill;
    cfg.allow_overwrite = true;
    let server = rt.block_on(async { Server::bind(cfg).await.expect("bind").spawn() });
    let addr = server.local_addr();

    let mut g = c.benchmark_group("transfer_64MiB");
    g.throughput(Throughput::Bytes(TOTAL));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    let n = AtomicU64::new(0);

    g.bench_function("raw_copy", |b| {
        b.iter(|| {
            let dst = local.join("copy.bin");
            std::fs::copy(root.join("src.bin"), &dst).expect("copy");
            std::fs::remove_file(&dst).expect("rm");
        })
    });
    g.bench_function("download", |b| {
        b.iter(|| {
            let dst = local.join("down.bin");
            rt.block_on(run_job(
                format!("http://{addr}/src.bin"),
                dst.clone(),
                false,
            ));
            std::fs::remove_file(&dst).expect("rm");
        })
    });
    g.bench_function("upload", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let name = format!("up{}.bin", i % 2);
            rt.block_on(run_job(
                format!("http://{addr}/{name}"),
                local.join("src.bin"),
                true,
            ));
        })
    });
    g.finish();
    rt.block_on(async { server.shutdown().await.expect("shutdown") });
}

criterion_group!(benches, bench);
criterion_main!(benches);
