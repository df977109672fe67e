//! The conformance suite, one test per case, checked against the expected
//! outcomes of the implementation it runs on (`bitsim_windows::outcomes`).
//!
//! * `cargo test -p bitsim-windows`: the simulator, against
//!   `expected/simulator.toml`, and the real-time driver (module
//!   `realtime`: real HTTP over loopback, real files, real time), against
//!   `expected/realtime.toml`; every case runs through both drivers.
//! * Built for Windows with `real-windows` and run under Wine
//!   (`scripts/windows-on-linux.sh`): Wine's BITS, against
//!   `expected/wine.toml`; or, with `BITSIM_CONFORMANCE_LIST=bitsim-wine`
//!   in a prefix where `bitsim-com.exe` serves BITS
//!   (`scripts/wine-bitsim.sh`): bitsim itself, through COM, against
//!   `expected/bitsim-wine.toml`.
//! * The same build on Windows: the real BITS service, where every case
//!   must pass (slow cases run when `BITSIM_CONFORMANCE_SLOW=1`).
//!
//! The HTTP peer of the real runs is bitsim-server on 127.0.0.1.

use bitsim_windows::conformance::{self, Outcome};
use bitsim_windows::outcomes::{self, ExpectedOutcomes};

#[cfg(not(all(windows, feature = "real-windows")))]
fn harness() -> (
    bitsim_windows::conformance::SimHarness,
    Option<ExpectedOutcomes>,
) {
    (
        bitsim_windows::conformance::SimHarness,
        Some(outcomes::simulator()),
    )
}

#[cfg(all(windows, feature = "real-windows"))]
fn harness() -> (bitsim_windows::real::RealHarness, Option<ExpectedOutcomes>) {
    let h = bitsim_windows::real::RealHarness::new().expect("start the real harness");
    match std::env::var("BITSIM_CONFORMANCE_LIST").as_deref() {
        Ok("bitsim-wine") => return (h, Some(outcomes::bitsim_wine())),
        Ok("wine") | Err(_) => {}
        Ok(other) => panic!(
            "BITSIM_CONFORMANCE_LIST={other:?}: expected `wine` (Wine's BITS, the default under \
             Wine) or `bitsim-wine` (bitsim through bitsim-com.exe)"
        ),
    }
    let expected = bitsim_windows::real::wine_version().map(|running| {
        let list = outcomes::wine();
        let made_with = list.wine_version.clone().unwrap_or_default();
        assert!(
            running == made_with || running.starts_with(&format!("{made_with}.")),
            "this is Wine {running}, but expected/wine.toml lists the outcomes of Wine \
             {made_with}: run under that version (Debian 12's), or make a list for this one"
        );
        list
    });
    (h, expected)
}

#[cfg(not(windows))]
mod rt;

fn run(name: &str) {
    let (mut h, expected) = harness();
    report(name, &mut h, expected.as_ref());
}

/// The case through the real-time driver, against its list.
#[cfg(not(windows))]
fn run_realtime(name: &str) {
    let mut h = rt::RtHarness::new().expect("start the real-time harness");
    report(name, &mut h, Some(&outcomes::realtime()));
}

fn report<H: conformance::Harness>(name: &str, h: &mut H, expected: Option<&ExpectedOutcomes>) {
    let start = std::time::Instant::now();
    let outcome = conformance::check(name, h, expected);
    let took = start.elapsed();
    match outcome {
        Ok(Outcome::Skipped) => eprintln!("{name}: skipped (slow case)"),
        Ok(Outcome::Fail(msg)) => eprintln!("{name}: failed as expected in {took:.1?}: {msg}"),
        Ok(Outcome::Pass) => eprintln!("{name}: passed in {took:.1?}"),
        Err(change) => panic!("{change}"),
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                run(stringify!($case));
            }
        )*

        /// The same cases through the real-time driver.
        #[cfg(not(windows))]
        mod realtime {
            $(
                #[test]
                fn $case() {
                    super::run_realtime(stringify!($case));
                }
            )*
        }

        #[test]
        fn every_case_is_instantiated() {
            let here = [$(stringify!($case)),*];
            let all: Vec<_> = conformance::CASES.iter().map(|c| c.name).collect();
            assert_eq!(&here[..], &all[..]);
        }
    };
}

conformance!(
    download_lifecycle,
    not_found_is_error_with_remote_file_context,
    suspend_and_resume,
    cancel_removes_temp_files,
    complete_refused_on_upload_before_transferred,
    resume_empty_job_is_bg_e_empty,
    second_cancel_is_invalid_state,
    notify_flags_default_and_read_back,
    retry_delay_floor_and_no_progress_zero,
    error_count_counts_errors,
    failed_callback_is_called_again,
    upload_to_server,
    upload_reply_brings_a_reply,
    complete_from_job_transferred,
    file_transferred_names_the_file,
    job_error_called_again_after_failure,
    cmd_line_runs_instead_of_failing_callback,
    job_error_remedy_cancel,
    job_error_remedy_complete_refused_on_upload,
    job_error_remedy_fix_and_resume,
    upload_reply_error_contexts,
    at_most_four_notifications_per_user,
);
