//! `bitsim wine`: what it says when Wine or bitsim-com.exe is missing. The
//! path through Wine itself is run by scripts/wine-bitsim.sh.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bitsim_wine(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bitsim"));
    c.arg("wine").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `out`'s stderr, once it is known that the command exited `code` (the
/// assertion shows `what` and the stderr otherwise).
fn exits(out: &Output, code: i32, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    err
}

/// An executable `wine64` in `dir`: a stand-in for Wine's loader, the
/// shell script `body`.
fn wine_script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("wine64");
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn missing_wine_is_named() {
    let out = bitsim_wine(
        &[("BITSIM_WINE", "/nonexistent/wine64")],
        &["install", "--service", "127.0.0.1:7300"],
    );
    let err = exits(&out, 1, "");
    assert!(err.contains("Wine is missing"), "{err}");
    assert!(err.contains("/nonexistent/wine64"), "{err}");
}

#[test]
fn missing_server_exe_is_named() {
    let wine = std::env::current_exe().unwrap();
    let out = bitsim_wine(
        &[
            ("BITSIM_WINE", wine.to_str().unwrap()),
            ("BITSIM_COM_EXE", "/nonexistent/bitsim-com.exe"),
        ],
        &["run", "--", "updater.exe"],
    );
    let err = exits(&out, 1, "");
    assert!(
        err.contains("bitsim-com.exe: /nonexistent/bitsim-com.exe is not a file"),
        "{err}"
    );
}

#[test]
fn run_needs_a_program() {
    let out = bitsim_wine(&[], &["run"]);
    let err = exits(&out, 2, "");
    assert!(err.contains("<PROGRAM>"), "{err}");
}

/// A stand-in for Wine's loader that says it is `version` and does nothing
/// else (the real Wine runs in scripts/wine-bitsim.sh): what `bitsim wine
/// install` decides from the version, before anything runs under Wine.
fn fake_wine(dir: &Path, version: &str) -> PathBuf {
    wine_script(
        dir,
        &format!("[ \"$1\" = --version ] && echo '{version}'\nexit 0\n"),
    )
}

/// A prefix that exists (its system32 is there: no wineboot).
fn prefix(dir: &Path) -> PathBuf {
    let p = dir.join("prefix");
    std::fs::create_dir_all(p.join("drive_c/windows/system32")).unwrap();
    p
}

#[test]
fn a_wine_without_process_prng_and_no_compiler_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let wine = fake_wine(dir.path(), "wine-8.0 (Debian 8.0~repack-4)");
    let prefix = prefix(dir.path());
    let exe = std::env::current_exe().unwrap();
    let out = bitsim_wine(
        &[
            ("BITSIM_WINE", wine.to_str().unwrap()),
            ("BITSIM_COM_EXE", exe.to_str().unwrap()),
            ("BITSIM_MINGW_GCC", "/nonexistent/x86_64-w64-mingw32-gcc"),
        ],
        &[
            "install",
            "--service",
            "127.0.0.1:7300",
            "--prefix",
            prefix.to_str().unwrap(),
        ],
    );
    let err = exits(&out, 1, "");
    assert!(err.contains("Wine (wine-8.0"), "{err}");
    assert!(err.contains("lacks ProcessPrng"), "{err}");
    assert!(
        err.contains("cannot run /nonexistent/x86_64-w64-mingw32-gcc"),
        "{err}"
    );
    assert!(err.contains("--prng-shim"), "{err}");
    assert!(
        !prefix
            .join("drive_c/windows/system32/bcryptprimitives.dll")
            .exists()
    );

    let out = bitsim_wine(
        &[
            ("BITSIM_WINE", wine.to_str().unwrap()),
            ("BITSIM_COM_EXE", exe.to_str().unwrap()),
        ],
        &[
            "install",
            "--service",
            "127.0.0.1:7300",
            "--prefix",
            prefix.to_str().unwrap(),
            "--prng-shim",
            "/nonexistent/bcryptprimitives.dll",
        ],
    );
    let err = exits(&out, 1, "");
    assert!(
        err.contains("the ProcessPrng shim: /nonexistent/bcryptprimitives.dll is not a file"),
        "{err}"
    );
}

#[test]
fn the_shim_goes_into_a_prefix_only_when_its_wine_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let shim = dir.path().join("shim.dll");
    std::fs::write(&shim, b"MZ a ProcessPrng DLL").unwrap();
    let exe = std::env::current_exe().unwrap();
    for (version, wanted) in [
        ("wine-8.0 (Debian 8.0~repack-4)", true),
        ("wine-8.12", true),
        ("wine-8.13", false),
        ("wine-9.0", false),
    ] {
        let sub = dir.path().join(version.replace([' ', '(', ')', '~'], "_"));
        std::fs::create_dir_all(&sub).unwrap();
        let wine = fake_wine(&sub, version);
        let prefix = prefix(&sub);
        let out = bitsim_wine(
            &[
                ("BITSIM_WINE", wine.to_str().unwrap()),
                ("BITSIM_COM_EXE", exe.to_str().unwrap()),
                ("BITSIM_PRNG_SHIM", shim.to_str().unwrap()),
            ],
            &[
                "install",
                "--service",
                "127.0.0.1:7300",
                "--prefix",
                prefix.to_str().unwrap(),
            ],
        );
        exits(&out, 0, version);
        let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
        assert_eq!(dll.exists(), wanted, "{version}");
        if wanted {
            assert_eq!(std::fs::read(&dll).unwrap(), b"MZ a ProcessPrng DLL");
        }
    }
}

#[test]
fn run_clock_modes_are_the_services() {
    let out = bitsim_wine(&[], &["run", "--clock", "fast", "--", "updater.exe"]);
    let err = exits(&out, 2, "");
    assert!(err.contains("'fast'"), "{err}");
    assert!(err.contains("--clock"), "{err}");

    let out = bitsim_wine(
        &[],
        &[
            "run",
            "--clock",
            "real",
            "--scale",
            "60",
            "--",
            "updater.exe",
        ],
    );
    let err = exits(&out, 2, "");
    assert!(err.contains("cannot be used with"), "{err}");

    let out = bitsim_wine(
        &[("BITSIM_WINE", "/nonexistent/wine64")],
        &["run", "--scale", "0", "--", "updater.exe"],
    );
    let err = exits(&out, 1, "");
    assert!(err.contains("--scale 0"), "{err}");
}

#[test]
fn run_world_http_takes_the_real_clock_only() {
    let out = bitsim_wine(
        &[],
        &[
            "run",
            "--world",
            "http",
            "--clock",
            "scaled:60",
            "--",
            "up.exe",
        ],
    );
    let err = exits(&out, 1, "");
    assert!(err.contains("--world http needs --clock real"), "{err}");
    let out = bitsim_wine(&[], &["run", "--world", "tcp", "--", "up.exe"]);
    let err = exits(&out, 2, "");
    assert!(err.contains("'tcp'"), "{err}");
}

/// A stand-in for Wine's loader that says it is Wine 9.0 and writes, for
/// each run, its arguments and the CPUs the kernel lets it use to `log`.
fn cpu_recording_wine(dir: &Path, log: &Path) -> PathBuf {
    wine_script(
        dir,
        &format!(
            "[ \"$1\" = --version ] && echo wine-9.0 && exit 0\n\
             echo \"$* | $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)\" >> '{}'\nexit 0\n",
            log.display()
        ),
    )
}

#[test]
fn run_puts_the_wine_session_on_the_cpus_asked_for() {
    let allowed = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Cpus_allowed_list:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap();
    let first = allowed.split([',', '-']).next().unwrap().to_owned();
    let exe = std::env::current_exe().unwrap();
    for (cpus, want) in [("one", first.as_str()), ("all", allowed.as_str())] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs.log");
        let wine = cpu_recording_wine(dir.path(), &log);
        let prefix = prefix(dir.path());
        let out = bitsim_wine(
            &[
                ("BITSIM_WINE", wine.to_str().unwrap()),
                ("BITSIM_COM_EXE", exe.to_str().unwrap()),
            ],
            &[
                "run",
                "--cpus",
                cpus,
                "--prefix",
                prefix.to_str().unwrap(),
                "--",
                "program.exe",
            ],
        );
        let err = exits(&out, 0, &format!("--cpus {cpus}"));
        let runs = std::fs::read_to_string(&log).unwrap();
        // install, the program, uninstall: each on the CPUs asked for.
        assert_eq!(runs.lines().count(), 3, "{runs}");
        assert!(
            runs.lines().any(|l| l.starts_with("program.exe |")),
            "{runs}"
        );
        for l in runs.lines() {
            assert_eq!(l.rsplit("| ").next(), Some(want), "--cpus {cpus}: {runs}");
        }
        if cpus == "one" {
            assert!(
                err.contains(&format!("run on CPU {first} (--cpus one")),
                "{err}"
            );
        }
    }

    let out = bitsim_wine(&[], &["run", "--cpus", "0,x", "--", "program.exe"]);
    let err = exits(&out, 2, "");
    assert!(
        err.contains("\"x\" in --cpus \"0,x\" is not a CPU number"),
        "{err}"
    );
}
