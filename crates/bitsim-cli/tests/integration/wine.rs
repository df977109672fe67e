//! `bitsim wine`: what it says when Wine or bitsim-com.exe is missing. The
//! path through Wine itself is run by scripts/wine-bitsim.sh.

use std::process::{Command, Output};

fn bitsim_wine(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bitsim"));
    c.arg("wine").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn missing_wine_is_named() {
    let out = bitsim_wine(
        &[("BITSIM_WINE", "/nonexistent/wine64")],
        &["install", "--service", "127.0.0.1:7300"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bitsim-com.exe: /nonexistent/bitsim-com.exe is not a file"),
        "{err}"
    );
}

#[test]
fn run_needs_a_program() {
    let out = bitsim_wine(&[], &["run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("<PROGRAM>"), "{err}");
}
