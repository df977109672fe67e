//! `bitsim download` and `bitsim upload`: one real BITS job over HTTP,
//! driven by the real-time driver (`bitsim::realtime`).
//!
//! The arguments are checked before anything is transferred (URL scheme,
//! destination, its folder), each error naming the path or URL; state
//! changes and retries are printed through the progress bar; a summary
//! ends a successful run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bitsim::realtime::{Driver, RtConfig, RtEvent};
use bitsim_model::{BG_SIZE_UNKNOWN, Caller, FileRef, JobId, JobState, JobType, Manager};
use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Options of both `download` and `upload`.
#[derive(Debug, clap::Args)]
pub struct JobOptions {
    /// MinimumRetryDelay in seconds (BITS raises values under 5 to 5).
    #[arg(long, value_name = "SECS")]
    pub retry_delay: Option<u32>,
    /// NoProgressTimeout in seconds: how long transient errors are retried
    /// before the job goes to ERROR (0: every error is fatal).
    #[arg(long, value_name = "SECS")]
    pub no_progress_timeout: Option<u32>,
    /// Persist the queue here; a second run with the same arguments
    /// resumes an interrupted job (like BITS after a reboot).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Trust the CA certificate(s) in this PEM file for `https://` URLs,
    /// besides the system's roots (e.g. the CA `bitsim serve
    /// --tls-self-signed` prints).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Arguments of `bitsim download`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Several files go into one job: `bitsim download URL1 DEST1 URL2 DEST2`, \
or `--list FILE` with one `URL DEST` pair per line (like bitsadmin /addfileset; \
`#` starts a comment line)."
)]
pub struct DownloadArgs {
    /// The remote URL (http://) and where the file lands (published
    /// atomically on success), repeated for more files in the same job.
    #[arg(value_name = "URL DEST", num_args = 0..)]
    pub pairs: Vec<String>,
    /// Read more `URL DEST` pairs from FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
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
    /// Upload fragment size in bytes (a 413 halves it, never below 5 KB).
    #[arg(long, value_name = "BYTES")]
    pub fragment: Option<u64>,
    #[command(flatten)]
    pub opts: JobOptions,
}

/// The progress bar being drawn, if any: log lines go through it
/// ([`LogWriter`]) so that they never land on top of it.
static BAR: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();

/// stderr for the `tracing` subscriber: while a progress bar is drawn,
/// each log line is written with the bar suspended (cleared, then
/// redrawn below the line).
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// URL schemes the real-time driver transfers.
const SCHEMES: &[&str] = &["http", "https"];

/// Checks a URL before any transfer: it parses, has a host, and its scheme
/// is one the driver speaks. The error names the URL.
fn check_url(url: &str) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !SCHEMES.contains(&u.scheme()) {
        return Err(format!(
            "{url:?}: unsupported scheme {:?} (bitsim transfers {} URLs)",
            u.scheme(),
            SCHEMES
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Checks that `path` can receive a new file: it is not a directory and
/// its folder exists. Errors name the path.
fn check_dest(path: &Path, what: &str) -> Result<PathBuf, String> {
    let abs = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if abs.is_dir() {
        return Err(format!(
            "{what} {} is a directory; give a file name (e.g. {})",
            path.display(),
            abs.join("NAME").display()
        ));
    }
    let folder = abs.parent().unwrap_or(Path::new("/"));
    if !folder.is_dir() {
        let why = if folder.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(format!(
            "the folder {} of {what} {} {why}",
            folder.display(),
            path.display()
        ));
    }
    Ok(abs)
}

/// Reads a list file: one `URL DEST` pair per line; blank lines and lines
/// starting with `#` are skipped. A URL holds no blank (RFC 3986 2), so the
/// rest of the line after it is the destination, blanks included.
fn read_list(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the list {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(char::is_whitespace) {
            Some((url, dest)) if !dest.trim().is_empty() => {
                out.push((url.to_owned(), dest.trim().to_owned()));
            }
            _ => {
                return Err(format!(
                    "{}:{}: expected `URL DEST`, got {line:?}",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// The validated files of a download job: (URL, absolute destination).
fn download_files(args: &DownloadArgs) -> Result<Vec<(String, PathBuf)>, String> {
    if !args.pairs.len().is_multiple_of(2) {
        return Err(format!(
            "expected URL DEST pairs; {:?} has no destination",
            args.pairs[args.pairs.len() - 1]
        ));
    }
    let mut pairs: Vec<(String, String)> = args
        .pairs
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    if let Some(list) = &args.list {
        pairs.extend(read_list(list)?);
    }
    if pairs.is_empty() {
        return Err("nothing to download: give URL DEST (or --list FILE)".into());
    }
    let mut out: Vec<(String, PathBuf)> = Vec::with_capacity(pairs.len());
    for (url, dest) in pairs {
        check_url(&url)?;
        let abs = check_dest(Path::new(&dest), "destination")?;
        if out.iter().any(|(_, d)| *d == abs) {
            return Err(format!("destination {dest} is given twice"));
        }
        out.push((url, abs));
    }
    Ok(out)
}

/// `bitsim download URL DEST [URL DEST …]`; exit 0 only when the job
/// reached ACKNOWLEDGED, 2 when the arguments are wrong.
pub fn download(args: DownloadArgs) -> i32 {
    let files = match download_files(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let names: Vec<(String, String)> = files
        .iter()
        .map(|(u, d)| (u.clone(), d.to_string_lossy().into_owned()))
        .collect();
    run(&args.opts, None, JobType::Download, move |d, me| {
        if let Some(id) = find(d.manager(), &names) {
            return Ok(id);
        }
        // AddFile's own checks (the BITS rules) are the model's; an error
        // names the file it refused.
        let refused = |url: &str, dest: &Path, e: bitsim_model::Error| {
            anyhow::anyhow!("adding {url} -> {}: {}", dest.display(), e.code)
        };
        let (url, dest) = &files[0];
        let id = d
            .download(me, url, dest)
            .map_err(|e| refused(url, dest, e))?;
        for (url, dest) in &files[1..] {
            d.call(|m, now| m.add_file(now, me, id, url, &dest.to_string_lossy()))
                .map_err(|e| refused(url, dest, e))?;
        }
        Ok(id)
    })
}

/// `bitsim upload FILE URL [--reply OUT]`; exit 0 only when ACKNOWLEDGED,
/// 2 when the arguments are wrong.
pub fn upload(args: UploadArgs) -> i32 {
    let checked = (|| {
        let src =
            std::path::absolute(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        if !src.is_file() {
            let why = if src.is_dir() {
                "is a directory"
            } else {
                "does not exist"
            };
            return Err(format!("the file to upload {} {why}", args.file.display()));
        }
        check_url(&args.url)?;
        let reply = match &args.reply {
            Some(r) => Some(check_dest(r, "reply file")?),
            None => None,
        };
        Ok((src, reply))
    })();
    let (src, reply) = match checked {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let url = args.url.clone();
    let kind = if reply.is_some() {
        JobType::UploadReply
    } else {
        JobType::Upload
    };
    let names = vec![(url.clone(), src.to_string_lossy().into_owned())];
    run(&args.opts, args.fragment, kind, move |d, me| {
        if let Some(id) = find(d.manager(), &names) {
            return Ok(id);
        }
        d.upload(me, &src, &url, reply.as_deref())
            .map_err(|e| anyhow::anyhow!("adding {} -> {url}: {}", src.display(), e.code))
    })
}

/// A live job of an earlier run with the same files (remote and local
/// names, in order).
fn find(m: &Manager, files: &[(String, String)]) -> Option<JobId> {
    m.all_jobs()
        .find(|j| {
            !j.state.is_final()
                && !j.removed
                && j.files.len() == files.len()
                && j.files
                    .iter()
                    .zip(files)
                    .all(|(f, (r, l))| f.remote_name == *r && f.local_name == *l)
        })
        .map(|j| j.id)
}

fn run(
    opts: &JobOptions,
    fragment: Option<u64>,
    kind: JobType,
    create: impl FnOnce(&mut Driver, &Caller) -> anyhow::Result<JobId>,
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
    match rt.block_on(drive(opts, fragment, kind, create)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

/// Where the lines of a run go: through the progress bar when it is
/// drawn (so a line never lands on top of it), else straight to stdout.
#[derive(Clone)]
struct Out {
    bar: ProgressBar,
    /// stdout and stderr are the same terminal: lines go above the bar.
    through_bar: bool,
}

impl Out {
    fn new() -> Out {
        let tty = std::io::stderr().is_terminal();
        let bar = if tty {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let _ = BAR.set(bar.clone());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}, ETA {eta} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Out {
            bar,
            through_bar: tty && std::io::stdout().is_terminal(),
        }
    }

    /// Prints one line to stdout without breaking the bar (a closed
    /// stdout does not stop the transfer: see [`crate::out`]).
    fn line(&self, s: &str) {
        if self.through_bar {
            self.bar.println(s);
        } else {
            self.bar.suspend(|| crate::out::outln!("{s}"));
        }
    }

    /// Prints one line to stderr without breaking the bar.
    fn err(&self, s: &str) {
        self.bar.suspend(|| eprintln!("{s}"));
    }
}

/// `HH:MM:SS UTC` of a wall-clock time (no time-zone database needed).
fn clock(t: SystemTime) -> String {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// The line printed when a job waits to retry: when, in how long, and how
/// to stop or change it.
fn retry_line(wait: Duration) -> String {
    format!(
        "retrying at {} (in {}); Ctrl-C to stop, --retry-delay to change",
        clock(SystemTime::now() + wait),
        HumanDuration(wait)
    )
}

async fn drive(
    opts: &JobOptions,
    fragment: Option<u64>,
    kind: JobType,
    create: impl FnOnce(&mut Driver, &Caller) -> anyhow::Result<JobId>,
) -> anyhow::Result<i32> {
    let mut cfg = RtConfig {
        state_file: opts.state.clone(),
        ca_file: opts.ca.clone(),
        ..RtConfig::default()
    };
    if let Some(f) = fragment {
        cfg.upload_fragment = f;
    }
    let mut d = Driver::open(cfg).context("opening the queue")?;
    let me = Caller::user(whoami());
    let job = create(&mut d, &me).context("creating the job")?;
    if let Some(s) = opts.retry_delay {
        d.call(|m, now| m.set_minimum_retry_delay(now, &me, job, s))
            .map_err(|e| anyhow::anyhow!("SetMinimumRetryDelay: {}", e.code))?;
    }
    if let Some(s) = opts.no_progress_timeout {
        d.call(|m, now| m.set_no_progress_timeout(now, &me, job, s))
            .map_err(|e| anyhow::anyhow!("SetNoProgressTimeout: {}", e.code))?;
    }
    let out = Out::new();
    let o = out.clone();
    d.set_observer(move |m, e| match e {
        RtEvent::Transition {
            job: j,
            rule,
            from,
            to,
            code,
        } if *j == job && from != to => {
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            o.line(&format!(
                "{} -> {} ({rule:?}){code}",
                from.short_name(),
                to.short_name()
            ));
            // The model armed the retry timer [SETRETRY]: say when it fires.
            if *to == JobState::TransientError
                && let Some(at) = m.job(job).and_then(|j| j.timers.retry_at)
            {
                let wait = Duration::from_millis(at.0.saturating_sub(m.now().0));
                o.line(&retry_line(wait));
            }
        }
        RtEvent::Progress {
            job: j,
            file,
            bytes,
            ..
        } if *j == job => {
            let Some(jb) = m.job(job) else { return };
            let (done, total) = match file {
                FileRef::Reply => (*bytes, jb.reply.as_ref().map_or(0, |r| r.bytes_total)),
                FileRef::File(_) => {
                    let p = jb.progress();
                    (p.bytes_transferred, p.bytes_total)
                }
            };
            if total != BG_SIZE_UNKNOWN {
                o.bar.set_length(total);
            }
            o.bar.set_position(done);
            o.bar.set_message(match file {
                FileRef::Reply => "reply".to_owned(),
                FileRef::File(i) if jb.files.len() > 1 => {
                    format!("file {}/{}", i + 1, jb.files.len())
                }
                FileRef::File(_) => String::new(),
            });
        }
        RtEvent::FileRestarted { job: j, .. } if *j == job => {
            o.line("remote file changed: restarting from byte 0");
        }
        _ => {}
    });
    let files = d.manager().job(job).map_or(0, |j| j.files.len());
    out.line(&format!(
        "job {} ({}, {files} file{}) {}",
        job.0,
        kind.short_name(),
        if files == 1 { "" } else { "s" },
        d.manager().job(job).map_or("?", |j| j.state.short_name())
    ));
    let st = d.manager().job(job).map(|j| j.state);
    if matches!(st, Some(JobState::Suspended | JobState::Error)) {
        d.call(|m, now| m.resume(now, &me, job))
            .map_err(|e| anyhow::anyhow!("Resume: {}", e.code))?;
    }
    let started = Instant::now();
    let interrupted = tokio::select! {
        _ = d.run_until(FOREVER, |m| {
            m.job(job).is_none_or(|j| matches!(j.state, JobState::Transferred | JobState::Error) || j.state.is_final())
        }) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    out.bar.finish_and_clear();
    if interrupted {
        if opts.state.is_some() {
            out.err("interrupted; the job stays in the queue");
        } else {
            // Nothing could resume it (no --state): cancel, so no temp
            // file and no server session are left behind.
            out.err("interrupted; cancelling the job (use --state FILE to resume later)");
            let _ = d.call(|m, now| m.cancel(now, &me, job));
            finish_cancel(&mut d, job).await;
        }
        d.shutdown();
        return Ok(130);
    }
    let Some(j) = d.manager().job(job).cloned() else {
        out.err("error: the job left the queue");
        return Ok(1);
    };
    match j.state {
        JobState::Transferred => match d.complete(&me, job) {
            Ok(_) => {
                let st = d.manager().job(job).map(|j| j.state);
                d.shutdown();
                if st != Some(JobState::Acknowledged) {
                    return Ok(1);
                }
                let bytes = j.progress().bytes_transferred
                    + j.reply.as_ref().map_or(0, |r| r.bytes_transferred);
                let secs = started.elapsed().as_secs_f64();
                out.line(&format!(
                    "done: {} file{}, {} in {:.1} s ({}/s)",
                    j.files.len(),
                    if j.files.len() == 1 { "" } else { "s" },
                    HumanBytes(bytes),
                    secs,
                    HumanBytes((bytes as f64 / secs.max(0.001)) as u64)
                ));
                Ok(0)
            }
            Err(e) => {
                let dests: Vec<&str> = j.files.iter().map(|f| f.local_name.as_str()).collect();
                out.err(&format!(
                    "error: Complete failed: {} (publishing {})",
                    e.code,
                    dests.join(", ")
                ));
                d.shutdown();
                Ok(1)
            }
        },
        JobState::Error => {
            if let Some(e) = &j.error {
                let file = e
                    .file
                    .and_then(|f| match f {
                        FileRef::File(i) => j.files.get(i),
                        FileRef::Reply => None,
                    })
                    .map(|f| format!(" ({} -> {})", f.remote_name, f.local_name))
                    .unwrap_or_default();
                out.err(&format!(
                    "error: context {} ({}), code {}: {}{file}",
                    e.context.short_name(),
                    e.context_description(),
                    e.code,
                    e.code.message()
                ));
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
            out.err(&format!("error: the job ended in {}", other.short_name()));
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

/// The current user: the owner of the jobs `download` and `upload` create.
pub(crate) fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_transferring() {
        assert!(check_url("http://h:8080/a").is_ok());
        let e = check_url("ftp://h/a").unwrap_err();
        assert!(e.contains("\"ftp://h/a\"") && e.contains("scheme"), "{e}");
        assert!(check_url("h/a").unwrap_err().contains("not a URL"));
        assert!(check_url("http://").is_err());
    }

    #[test]
    fn retry_line_says_when_and_how_to_change_it() {
        let l = retry_line(Duration::from_secs(600));
        assert!(l.starts_with("retrying at "), "{l}");
        assert!(l.contains("UTC (in 10 minutes)"), "{l}");
        assert!(
            l.ends_with("Ctrl-C to stop, --retry-delay to change"),
            "{l}"
        );
        assert_eq!(
            clock(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 + 3723)),
            "01:02:03 UTC"
        );
    }
}
