//! Cross-crate tests of the simulator: every scenario of `sim-scenarios/`
//! passes and its trace matches the reviewed golden trace; runs are pure
//! functions of (scenario, seed).

mod determinism;
mod golden;
mod strict;
mod user_callbacks;

use std::path::{Path, PathBuf};

/// Every scenario file, sorted.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim-scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim-scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 25,
        "the library has at least 25 scenarios, found {}",
        v.len()
    );
    v
}
