//! The conformance suite, one test per case.
//!
//! `cargo test -p bitsim-windows` runs it against the simulator;
//! on Windows, `cargo test -p bitsim-windows --features real-windows`
//! runs the very same cases against real BITS, with bitsim-server on
//! 127.0.0.1 as the HTTP peer.

#[cfg(not(all(windows, feature = "real-windows")))]
fn harness() -> bitsim_windows::conformance::SimHarness {
    bitsim_windows::conformance::SimHarness
}

#[cfg(all(windows, feature = "real-windows"))]
fn harness() -> bitsim_windows::real::RealHarness {
    bitsim_windows::real::RealHarness::new().expect("start the real harness")
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let mut h = harness();
                bitsim_windows::conformance::$case(&mut h);
            }
        )*

        #[test]
        fn every_case_is_instantiated() {
            let here = [$(stringify!($case)),*];
            assert_eq!(&here[..], bitsim_windows::conformance::CASES);
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
);
