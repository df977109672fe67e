//! `bitsim download` and `bitsim upload`: one real BITS job over HTTP,
//! driven by the real-time driver (`bitsim::realtime`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bitsim::realtime::{Driver, RtConfig, RtEvent};
use bitsim_model::{Caller, FileRef, JobId, JobState, JobType, Manager};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Options shared by `download` and `upload`.
#[derive(Debug, clap::Args)]
pub struct JobOptions {
    /// MinimumRetryDelay in seconds (BITS raises values under 5 to 5).
    #[arg(long, value_name = "SECS")]
    pub retry_delay: Option<u32>,
    /// NoProgressTimeout in seconds: how long transient errors are retried
    /// before the job goes to ERROR (0: every error is fatal).
    #[arg(long, value_name = "SECS")]
    pub no_progress_timeout: Option<u32>,
    /// Persist the queue here; a second run with the same file resumes an
    /// interrupted job (like BITS after a reboot).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Upload fragment size in bytes.
    #[arg(long, value_name = "BYTES")]
    pub fragment: Option<u64>,
}

/// Arguments of `bitsim download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// The remote URL (http://).
    pub url: String,
    /// Where the file lands (published atomically on success).
    pub dest: PathBuf,
    #[command(flatten)]
    pub opts: JobOptions,
}

/// Arguments of `bitsim upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The local file to upload.
    pub file: PathBuf,
    /// The destination URL on a BITS upload server ([MC-BUP]).
    pub url: String,
    /// Upload-reply job: write the server application's reply here.
    #[arg(long, value_name = "OUT")]
    pub reply: Option<PathBuf>,
    #[command(flatten)]
    pub opts: JobOptions,
}

/// `bitsim download URL DEST`; exit 0 only when the job reached ACKNOWLEDGED.
pub fn download(args: DownloadArgs) -> i32 {
    let dest = std::path::absolute(&args.dest).unwrap_or(args.dest.clone());
    let url = args.url.clone();
    run(&args.opts, JobType::Download, move |d, me| {
        if let Some(id) = find(d.manager(), &url, &dest.to_string_lossy()) {
            return Ok(id);
        }
        d.download(me, &url, &dest)
    })
}

/// `bitsim upload FILE URL [--reply OUT]`; exit 0 only when ACKNOWLEDGED.
pub fn upload(args: UploadArgs) -> i32 {
    let src = std::path::absolute(&args.file).unwrap_or(args.file.clone());
    let url = args.url.clone();
    let reply = args.reply.clone();
    let kind = if reply.is_some() {
        JobType::UploadReply
    } else {
        JobType::Upload
    };
    run(&args.opts, kind, move |d, me| {
        if let Some(id) = find(d.manager(), &url, &src.to_string_lossy()) {
            return Ok(id);
        }
        d.upload(me, &src, &url, reply.as_deref())
    })
}

/// A live job of an earlier run with the same remote and local names.
fn find(m: &Manager, remote: &str, local: &str) -> Option<JobId> {
    m.all_jobs()
        .find(|j| {
            !j.state.is_final()
                && !j.removed
                && j.files
                    .first()
                    .is_some_and(|f| f.remote_name == remote && f.local_name == local)
        })
        .map(|j| j.id)
}

fn run(
    opts: &JobOptions,
    kind: JobType,
    create: impl FnOnce(&mut Driver, &Caller) -> Result<JobId, bitsim_model::Error>,
) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return 2;
        }
    };
    match rt.block_on(drive(opts, kind, create)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

async fn drive(
    opts: &JobOptions,
    kind: JobType,
    create: impl FnOnce(&mut Driver, &Caller) -> Result<JobId, bitsim_model::Error>,
) -> anyhow::Result<i32> {
    let mut cfg = RtConfig {
        state_file: opts.state.clone(),
        ..RtConfig::default()
    };
    if let Some(f) = opts.fragment {
        cfg.upload_fragment = f;
    }
    let mut d = Driver::open(cfg).context("opening the queue")?;
    let me = Caller::user(whoami());
    let job = create(&mut d, &me).map_err(|e| anyhow::anyhow!("creating the job: {}", e.code))?;
    if let Some(s) = opts.retry_delay {
        d.call(|m, now| m.set_minimum_retry_delay(now, &me, job, s))
            .map_err(|e| anyhow::anyhow!("SetMinimumRetryDelay: {}", e.code))?;
    }
    if let Some(s) = opts.no_progress_timeout {
        d.call(|m, now| m.set_no_progress_timeout(now, &me, job, s))
            .map_err(|e| anyhow::anyhow!("SetNoProgressTimeout: {}", e.code))?;
    }
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let b = bar.clone();
    d.set_observer(move |_, e| match e {
        RtEvent::Transition {
            job: j,
            rule,
            from,
            to,
            code,
        } if *j == job && from != to => {
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            let line = format!(
                "{} -> {} ({rule:?}){code}",
                from.short_name(),
                to.short_name()
            );
            b.suspend(|| println!("{line}"));
        }
        RtEvent::Progress {
            job: j,
            file,
            bytes,
            total,
        } if *j == job => {
            b.set_length(*total);
            b.set_position(*bytes);
            b.set_message(match file {
                FileRef::Reply => "reply",
                FileRef::File(_) => "",
            });
        }
        RtEvent::FileRestarted { job: j, .. } if *j == job => {
            b.suspend(|| println!("remote file changed: restarting from byte 0"));
        }
        _ => {}
    });
    let st = d.manager().job(job).map(|j| j.state);
    if matches!(st, Some(JobState::Suspended | JobState::Error)) {
        d.call(|m, now| m.resume(now, &me, job))
            .map_err(|e| anyhow::anyhow!("Resume: {}", e.code))?;
    }
    println!(
        "job {} ({}) {}",
        job.0,
        kind.short_name(),
        d.manager().job(job).map_or("?", |j| j.state.short_name())
    );
    let interrupted = tokio::select! {
        _ = d.run_until(FOREVER, |m| {
            m.job(job).is_none_or(|j| matches!(j.state, JobState::Transferred | JobState::Error) || j.state.is_final())
        }) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    bar.finish_and_clear();
    if interrupted {
        eprintln!("interrupted; the job stays in the queue");
        d.shutdown();
        return Ok(130);
    }
    let Some(j) = d.manager().job(job).cloned() else {
        eprintln!("error: the job left the queue");
        return Ok(1);
    };
    match j.state {
        JobState::Transferred => match d.complete(&me, job) {
            Ok(_) => {
                let st = d.manager().job(job).map(|j| j.state);
                d.shutdown();
                Ok(if st == Some(JobState::Acknowledged) {
                    0
                } else {
                    1
                })
            }
            Err(e) => {
                eprintln!("error: Complete failed: {}", e.code);
                d.shutdown();
                Ok(1)
            }
        },
        JobState::Error => {
            if let Some(e) = &j.error {
                eprintln!(
                    "error: context {} ({}), code {}: {}",
                    e.context.short_name(),
                    e.context_description(),
                    e.code,
                    e.code.message()
                );
            }
            if opts.state.is_none() {
                // Nothing would resume it: cancel so no temp file is left.
                let _ = d.call(|m, now| m.cancel(now, &me, job));
                finish_cancel(&mut d, job).await;
            }
            d.shutdown();
            Ok(1)
        }
        other => {
            eprintln!("error: the job ended in {}", other.short_name());
            d.shutdown();
            Ok(1)
        }
    }
}

/// How long a cancelled upload may take to tell its server.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// After a Cancel, runs the driver until the model is done with the job:
/// for an upload with a server session the model emits
/// `CancelUploadSession` and keeps the job until the server acknowledged
/// it (X3), so the process must not exit before (the session and its data
/// would stay on the server until it expires them).
async fn finish_cancel(d: &mut Driver, job: JobId) {
    let done = d
        .run_until(CANCEL_WAIT, |m| {
            m.job(job).is_none_or(|j| !j.cancelling_upload)
        })
        .await;
    if !done {
        eprintln!(
            "warning: the server did not acknowledge Cancel-Session within {} s; it drops the session when it expires",
            CANCEL_WAIT.as_secs()
        );
    }
}

/// Long enough to mean "until the job settles" without overflowing `Instant`.
const FOREVER: Duration = Duration::from_secs(10 * 365 * 86_400);

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".to_owned())
}
