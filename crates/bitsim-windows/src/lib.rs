//! # bitsim-windows: bitsim's BITS API on real Windows BITS, and the
//! conformance suite that keeps the simulator honest
//!
//! Users write their BITS code once against [`bitsim::Backend`] (and the
//! [`bitsim::JobAccess`] their callbacks receive). On Linux CI it runs
//! against [`bitsim::SimBackend`]; on Windows, with this crate's
//! `real-windows` feature, against the real Background Intelligent Transfer
//! Service through COM (`WinBackend`, in the `com` module, built only there).
//!
//! The crate is split so that Linux tests cover everything that is not a COM
//! call:
//!
//! * [`convert`]: the tables between BITS's numbers (`BG_JOB_STATE`,
//!   `BG_JOB_TYPE`, `BG_JOB_PRIORITY`, `BG_ERROR_CONTEXT`, notify flags,
//!   HRESULTs, GUIDs, UTF-16 strings) and bitsim-model's types.
//! * [`bridge`]: the callback bridge's decisions: what to return to BITS for
//!   a [`bitsim::CallbackResult`], how a `hold` is honoured, what a panic
//!   becomes, which file a `FileTransferred` names.
//! * [`conformance`]: the suite, generic over a [`conformance::Harness`],
//!   with [`conformance::SimHarness`] for the simulator; the crate's tests
//!   also run every case through bitsim's real-time driver (real HTTP to
//!   `bitsim-server` over loopback), so both drivers of the one model are
//!   held to the same cases. On Windows (and
//!   under Wine) the `real` module's `RealHarness` runs `bitsim-server` on
//!   127.0.0.1 as the HTTP peer and checks real files.
//! * [`outcomes`]: what each case is expected to do on each implementation
//!   of BITS other than real Windows (the simulator, the real-time driver, Wine's BITS), with the
//!   cause of every difference, and the Markdown table of them.
//!
//! The COM code builds for `x86_64-pc-windows-gnu` on Linux too:
//! `scripts/windows-on-linux.sh` cross-compiles it with mingw-w64 and runs
//! its tests under Wine. With default features (or for any non-Windows
//! target) the crate pulls in no Windows dependency and changes nothing for
//! Linux users.
//!
//! ```
//! use bitsim_windows::conformance::{self, SimHarness};
//!
//! // The same case runs against real BITS in the Windows CI job.
//! conformance::download_lifecycle(&mut SimHarness);
//! ```

pub mod bridge;
pub mod conformance;
pub mod convert;
pub mod outcomes;

#[cfg(all(windows, feature = "real-windows"))]
pub mod com;
#[cfg(all(windows, feature = "real-windows"))]
pub mod peer;
#[cfg(all(windows, feature = "real-windows"))]
pub mod real;

#[cfg(all(windows, feature = "real-windows"))]
pub use com::WinBackend;
