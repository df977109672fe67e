//! Notification command lines started through a launcher
//! (`RtConfig::launcher`): a real process, a shell script that records
//! its argv, runs `LAUNCHER ARGS... PROGRAM PARAMETERS...`; a launcher
//! that cannot start is the model's "failed to start".

use super::common::*;
use bitsim::realtime::{Driver, Launcher, RtConfig};
use bitsim::{Callback, CallbackResult, JobHandle};
use bitsim_model::{Hresult, JobId, JobState, UserId};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A launcher script that writes its arguments, one a line, to `$OUT`.
fn recording_launcher(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("launcher.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$OUT.tmp\" && mv \"$OUT.tmp\" \"$OUT\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// JobTransferred answers E_FAIL: BITS runs the command line instead
/// \[CMDLINE\].
struct Failing;

impl Callback for Failing {
    fn job_transferred(&mut self, _job: &mut JobHandle<'_>) -> CallbackResult {
        CallbackResult::fail(Hresult::E_FAIL)
    }
}

/// A driver starting command lines with `launcher`, and in it a download
/// of `/m.bin` to `dest`, resumed, whose JobTransferred fails and whose
/// command line is `/bin/true` (MinimumRetryDelay 5 s).
fn failing_true(env: &Env, launcher: Launcher, dest: &str) -> (Driver, Recorder, JobId) {
    let (mut d, rec) = driver(RtConfig {
        launcher: Some(launcher),
        ..rt_config()
    });
    let job = d
        .download(&me(), &env.url("/m.bin"), env.local.join(dest))
        .unwrap();
    d.call(|m, now| {
        m.set_notify_cmd_line(now, &me(), job, Some("/bin/true"), Some("true"))?;
        m.set_minimum_retry_delay(now, &me(), job, 5)
    })
    .unwrap();
    d.register_callback(&me(), job, Box::new(Failing)).unwrap();
    resume(&mut d, job);
    (d, rec, job)
}

/// A program that does not exist here (a Windows path) runs, because the
/// launcher is what starts: the launcher gets its own argument, the
/// program and the parameters after the program's name; the model keeps
/// the command line as it was set.
#[tokio::test]
async fn the_command_line_runs_through_the_launcher() {
    let env = Env::new().await;
    make_file(&env.root.join("l.bin"), 1000, 3);
    let out = env.dir.path().join("argv.txt");
    let launcher = Launcher::new(recording_launcher(env.dir.path()))
        .arg("--in-prefix")
        .env("OUT", &out);
    let (mut d, rec) = driver(RtConfig {
        launcher: Some(launcher),
        ..rt_config()
    });
    let job = d
        .download(&me(), &env.url("/l.bin"), env.local.join("l.bin"))
        .unwrap();
    let program = r"C:\windows\System32\bitsadmin.exe";
    let parameters = format!("bitsadmin.exe /complete {job}");
    d.call(|m, now| m.set_notify_cmd_line(now, &me(), job, Some(program), Some(&parameters)))
        .unwrap();
    d.register_callback(&me(), job, Box::new(Failing)).unwrap();
    resume(&mut d, job);
    let user = UserId::new("tester");
    assert!(
        d.run_until(WAIT, |m| out.exists()
            && m.outstanding_notifications(&user) == 0)
            .await,
        "the command line did not run through the launcher"
    );
    let argv = std::fs::read_to_string(&out).unwrap();
    let want = format!("--in-prefix\n{program}\n/complete\n{job}\n");
    assert_eq!(argv, want);
    assert_eq!(rec.callbacks("JobTransferred"), 1);
    let j = d.manager().job(job).unwrap();
    assert_eq!(j.state, JobState::Transferred, "nothing completed it");
    let cmd = j.notify_cmd_line.as_ref().expect("still set");
    assert_eq!(
        (cmd.program.as_str(), cmd.parameters.as_deref()),
        (program, Some(parameters.as_str())),
        "the model keeps what the owner set"
    );
}

/// A launcher that cannot be started is the command line's "failed to
/// start": the callback failed too, so the whole notification comes again
/// after MinimumRetryDelay, callback first (as for a program that cannot
/// start without a launcher).
#[tokio::test]
async fn a_launcher_that_cannot_start_fails_the_command_line() {
    let env = Env::new().await;
    make_file(&env.root.join("m.bin"), 1000, 4);
    let launcher = Launcher::new(env.dir.path().join("no-such-launcher"));
    let (mut d, rec, job) = failing_true(&env, launcher, "m.bin");
    assert!(
        d.run_until(WAIT, |_| rec.callbacks("JobTransferred") >= 2)
            .await,
        "the notification was not sent again"
    );
    assert_eq!(state(d.manager(), job), Some(JobState::Transferred));
    // The launcher's exit code is the command line's: /bin/true through a
    // launcher that starts ends the notification, tried once.
    let out = env.dir.path().join("argv2.txt");
    let launcher = Launcher::new(recording_launcher(env.dir.path())).env("OUT", &out);
    let (mut d, rec, _) = failing_true(&env, launcher, "m2.bin");
    assert!(d.run_until(WAIT, |_| out.exists()).await);
    d.run_until(Duration::from_secs(7), |_| {
        rec.callbacks("JobTransferred") >= 2
    })
    .await;
    assert_eq!(
        rec.callbacks("JobTransferred"),
        1,
        "sent again after a command line that ran"
    );
}
