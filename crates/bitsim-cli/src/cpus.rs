//! `bitsim wine run --cpus`: the CPUs a Wine session and its service run
//! on.
//!
//! A COM call from a Windows program to an out-of-process server under
//! Wine is a chain of wake-ups: the program's thread, `wineserver`, the
//! server's RPC thread, `wineserver` again, and for bitsim the service's
//! threads on the far side of a socket. On a virtual machine whose idle
//! CPUs halt, every wake-up that crosses to another CPU waits for that CPU
//! to be woken by the hypervisor. On the 2-CPU machine bitsim's CI runs on,
//! a pipe round trip between two processes takes about 70 µs across CPUs
//! and 4 µs on one; Wine's own BITS answers `GetState` in about 0.9 ms
//! across CPUs and 0.16 ms on one. So `bitsim wine run` runs the whole
//! session (the service's threads, the Wine loader and everything Wine
//! starts from it: `wineserver`, the program, `bitsim-com.exe`) on one CPU
//! unless told otherwise. The figures: the README and `scripts/wine-bitsim.sh`.
//!
//! `--cpus one` (the default on Linux) is the first CPU this process may
//! run on; `--cpus all` leaves the CPUs as they are; `--cpus 0,2-3` names
//! them (as `taskset -c` does). A `wineserver` that is already running for
//! the prefix keeps the CPUs it had. Several runs at once (several
//! prefixes) all pick the same first CPU with `one`: give each its own
//! (`--cpus 0`, `--cpus 1`, ...) or `--cpus all`.

use anyhow::bail;
use std::fmt;
use std::str::FromStr;

/// Where a Wine session runs (`--cpus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cpus {
    /// The first CPU this process may run on.
    One,
    /// As inherited: no change.
    All,
    /// These CPUs (numbers as the kernel counts them), ascending, no
    /// duplicates.
    List(Vec<usize>),
}

impl Default for Cpus {
    /// `one` where bitsim can pin (Linux), `all` elsewhere.
    fn default() -> Cpus {
        if cfg!(target_os = "linux") {
            Cpus::One
        } else {
            Cpus::All
        }
    }
}

/// The highest CPU number `--cpus` accepts (the kernel's `CPU_SETSIZE`
/// less one).
const MAX_CPU: usize = 1023;

impl FromStr for Cpus {
    type Err = String;

    fn from_str(s: &str) -> Result<Cpus, String> {
        match s.trim() {
            "one" => return Ok(Cpus::One),
            "all" => return Ok(Cpus::All),
            "" => return Err("an empty CPU list: give `one`, `all` or numbers like 0,2-3".into()),
            _ => {}
        }
        let mut cpus = Vec::new();
        for part in s.trim().split(',') {
            let part = part.trim();
            let number = |t: &str| -> Result<usize, String> {
                let n: usize = t.trim().parse().map_err(|_| {
                    format!("{t:?} in --cpus {s:?} is not a CPU number (give `one`, `all` or numbers like 0,2-3)")
                })?;
                if n > MAX_CPU {
                    return Err(format!("CPU {n} in --cpus {s:?} is above {MAX_CPU}"));
                }
                Ok(n)
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a > b {
                        return Err(format!("the range {part:?} in --cpus {s:?} runs backwards"));
                    }
                    cpus.extend(a..=b);
                }
                None => cpus.push(number(part)?),
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Cpus::List(cpus))
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cpus::One => f.write_str("one"),
            Cpus::All => f.write_str("all"),
            Cpus::List(l) => {
                let l: Vec<String> = l.iter().map(ToString::to_string).collect();
                f.write_str(&l.join(","))
            }
        }
    }
}

/// Runs the calling thread, and every thread and process it starts from
/// now on, on `cpus`; the CPUs it then runs on (`None` for `all`).
/// Call it before the service's threads start. Fails, naming the CPUs,
/// when none of them is one this process may use.
pub fn pin(cpus: &Cpus) -> anyhow::Result<Option<Vec<usize>>> {
    let chosen = match cpus {
        Cpus::All => return Ok(None),
        Cpus::One => sys::allowed()?.into_iter().take(1).collect::<Vec<_>>(),
        Cpus::List(l) => {
            let allowed = sys::allowed()?;
            let (ok, not): (Vec<usize>, Vec<usize>) = l.iter().partition(|c| allowed.contains(c));
            if !not.is_empty() {
                bail!(
                    "--cpus {cpus}: CPU(s) {} are not among those this process may run on ({})",
                    Cpus::List(not),
                    Cpus::List(allowed)
                );
            }
            ok
        }
    };
    if chosen.is_empty() {
        bail!("--cpus {cpus}: this process may run on no CPU");
    }
    sys::set(&chosen)?;
    Ok(Some(chosen))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use anyhow::Context;

    /// The CPUs the calling thread may run on.
    pub fn allowed() -> anyhow::Result<Vec<usize>> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel
        // writes at most size_of::<cpu_set_t>() bytes into it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut set) };
        if r != 0 {
            return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
        }
        // SAFETY: CPU_ISSET reads the set within CPU_SETSIZE.
        Ok((0..=super::MAX_CPU)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect())
    }

    /// Runs the calling thread (and what it starts) on `cpus`.
    pub fn set(cpus: &[usize]) -> anyhow::Result<()> {
        // SAFETY: as above; CPU_SET writes within the set for c <= MAX_CPU,
        // which the parser and `allowed` guarantee.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
        if r != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("sched_setaffinity to CPU(s) {cpus:?}"));
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub fn allowed() -> anyhow::Result<Vec<usize>> {
        anyhow::bail!("--cpus other than `all` needs Linux (sched_setaffinity)")
    }

    pub fn set(_: &[usize]) -> anyhow::Result<()> {
        anyhow::bail!("--cpus other than `all` needs Linux (sched_setaffinity)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_taskset_writes_them() {
        assert_eq!("one".parse(), Ok(Cpus::One));
        assert_eq!("all".parse(), Ok(Cpus::All));
        assert_eq!("3".parse(), Ok(Cpus::List(vec![3])));
        assert_eq!("2-4,0, 3".parse(), Ok(Cpus::List(vec![0, 2, 3, 4])));
        assert_eq!(Cpus::List(vec![0, 2, 3]).to_string(), "0,2,3");
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        let e = "0,x".parse::<Cpus>().unwrap_err();
        assert!(e.contains("\"x\"") && e.contains("not a CPU number"), "{e}");
        let e = "3-1".parse::<Cpus>().unwrap_err();
        assert!(e.contains("backwards"), "{e}");
        let e = "1024".parse::<Cpus>().unwrap_err();
        assert!(e.contains("above 1023"), "{e}");
        assert!("".parse::<Cpus>().is_err());
        assert!(
            "One".parse::<Cpus>().is_err(),
            "no silent default for a misspelt name"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinning_a_thread_moves_it_and_what_it_starts() {
        // On a thread of its own: the test harness's threads keep theirs.
        std::thread::spawn(|| {
            let allowed = sys::allowed().unwrap();
            let first = allowed[0];
            assert_eq!(pin(&Cpus::One).unwrap(), Some(vec![first]));
            assert_eq!(sys::allowed().unwrap(), vec![first]);
            // A thread started now inherits the CPU.
            let inherited = std::thread::spawn(|| sys::allowed().unwrap())
                .join()
                .unwrap();
            assert_eq!(inherited, vec![first]);
            // A process too: the kernel's view of a child's affinity.
            let out = std::process::Command::new("sh")
                .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                line.split_whitespace().last(),
                Some(first.to_string().as_str()),
                "{line}"
            );
            assert_eq!(pin(&Cpus::All).unwrap(), None);
            let e = pin(&Cpus::List(vec![MAX_CPU])).unwrap_err().to_string();
            assert!(e.contains("not among those"), "{e}");
        })
        .join()
        .unwrap();
    }
}
