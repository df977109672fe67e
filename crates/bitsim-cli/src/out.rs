//! stdout for a reader that may go away.
//!
//! `bitsim run s.toml | head` closes the pipe after a few lines; `print!`
//! would then panic ("failed printing to stdout: Broken pipe"). bitsim
//! treats a closed stdout as a reader that has all it wanted: it stops
//! writing there, quietly, finishes the command (a `--trace` file is still
//! written, a transfer still runs to its end) and exits with the command's
//! own status, so `set -o pipefail` still sees whether expectations held.
//! Any other write error (a full disk behind `>`) is reported once on
//! stderr and turns a success into exit status 2.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// stdout is writable (as far as we know).
const OPEN: u8 = 0;
/// The reader closed the pipe: output is dropped.
const CLOSED: u8 = 1;
/// A write failed otherwise: reported, output dropped, exit status 2.
const FAILED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OPEN);

/// Writes `args` to stdout, unless stdout has already failed.
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        failed(&e);
    }
}

fn failed(e: &std::io::Error) {
    if e.kind() == ErrorKind::BrokenPipe {
        STATE.store(CLOSED, Ordering::Relaxed);
    } else if STATE.swap(FAILED, Ordering::Relaxed) != FAILED {
        // Not eprintln!: it panics when stderr is closed too.
        let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {e}");
    }
}

/// Flushes stdout and returns the exit status: `code`, or 2 instead of 0
/// when writing to stdout failed for a reason other than a closed pipe.
pub(crate) fn finish(code: i32) -> i32 {
    if STATE.load(Ordering::Relaxed) == OPEN
        && let Err(e) = std::io::stdout().lock().flush()
    {
        failed(&e);
    }
    match STATE.load(Ordering::Relaxed) {
        FAILED if code == 0 => 2,
        _ => code,
    }
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` through [`write`].
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
