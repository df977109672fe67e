//! Expected outcomes of the conformance suite per implementation of BITS.
//!
//! Real BITS is the reference: there, every case must pass. Every other
//! implementation has a checked-in list (`crates/bitsim-windows/expected/`,
//! one TOML file each) saying, for every case, whether it passes or fails,
//! and when it fails, a piece of the failure message and the cause (a Wine
//! source file and function, or a Microsoft page). [`crate::conformance::check`]
//! compares a run with the list, so a run passes when every case does what
//! the list says and fails on any change, including a case that starts to
//! pass.
//!
//! ```toml
//! implementation = "Wine 8.0 (its BITS: dlls/qmgr)"
//! column = "Wine 8.0"
//!
//! [cases.suspend_and_resume]
//! outcome = "fail"                       # or "pass"
//! failure = "E_NOTIMPL"                  # a piece of the panic message
//! cause = "IBackgroundCopyJob::Suspend is a stub (dlls/qmgr/job.c, BackgroundCopyJob_Suspend)"
//! never = ["JobError"]                   # notifications it never sends: not waited for
//! budget = 5                             # seconds, instead of the case's budget
//! ```
//!
//! The lists: the simulator and the real-time driver (both drivers of
//! bitsim's one model, so a difference between their lists is a drift to
//! explain), and Wine's BITS. [`markdown_table`] prints them side by side
//! for the README.

use crate::conformance::CASES;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The simulator's list.
pub const SIMULATOR: &str = include_str!("../expected/simulator.toml");
/// Wine's list (Debian 12's Wine 8.0).
pub const WINE: &str = include_str!("../expected/wine.toml");
/// The real-time driver's list (`bitsim::realtime`).
pub const REALTIME: &str = include_str!("../expected/realtime.toml");
/// bitsim under Wine: the suite's Windows build calling bitsim through
/// `bitsim-com.exe` and `bitsim service --world http`.
pub const BITSIM_WINE: &str = include_str!("../expected/bitsim-wine.toml");

/// What one case is expected to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// Every assertion holds.
    Pass,
    /// It fails; its panic message contains `failure`, for `cause`.
    Fail {
        /// A piece of the panic message.
        failure: String,
        /// Why the implementation differs from BITS, with its source.
        cause: String,
    },
}

/// One case's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Pass, or fail and why.
    pub expected: Expected,
    /// Notifications the implementation never sends in this case (the case
    /// does not wait for them).
    pub never: Vec<String>,
    /// A shorter budget for this implementation (e.g. a state it never
    /// reaches), instead of the case's own.
    pub budget: Option<std::time::Duration>,
}

/// One implementation's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedOutcomes {
    /// Its name in messages.
    pub implementation: String,
    /// Its column title in the table.
    pub column: String,
    /// For Wine: the version the list was made with (a run under another
    /// version is refused rather than compared).
    pub wine_version: Option<String>,
    cases: BTreeMap<String, Entry>,
}

impl ExpectedOutcomes {
    /// Parses a list and checks it names every case of the suite once and
    /// nothing else.
    pub fn parse(text: &str) -> Result<ExpectedOutcomes, String> {
        let t: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let string = |t: &toml::Table, k: &str, what: &str| -> Result<String, String> {
            t.get(k)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("{what}: missing string `{k}`"))
        };
        for k in t.keys() {
            if !["implementation", "column", "wine_version", "cases"].contains(&k.as_str()) {
                return Err(format!("unknown key `{k}`"));
            }
        }
        let implementation = string(&t, "implementation", "top level")?;
        let column = string(&t, "column", "top level")?;
        let wine_version = t
            .get("wine_version")
            .map(|_| string(&t, "wine_version", "top level"))
            .transpose()?;
        let table = t
            .get("cases")
            .and_then(toml::Value::as_table)
            .ok_or("missing [cases]")?;
        let mut cases = BTreeMap::new();
        for (name, v) in table {
            if !CASES.iter().any(|c| c.name == name) {
                return Err(format!("`{name}` is not a conformance case"));
            }
            let what = format!("cases.{name}");
            let e = v.as_table().ok_or(format!("{what}: not a table"))?;
            for k in e.keys() {
                if !["outcome", "failure", "cause", "never", "budget"].contains(&k.as_str()) {
                    return Err(format!("{what}: unknown key `{k}`"));
                }
            }
            let expected = match string(e, "outcome", &what)?.as_str() {
                "pass" => {
                    if e.contains_key("failure") || e.contains_key("cause") {
                        return Err(format!("{what}: a passing case has no failure or cause"));
                    }
                    Expected::Pass
                }
                "fail" => Expected::Fail {
                    failure: string(e, "failure", &what)?,
                    cause: string(e, "cause", &what)?,
                },
                o => {
                    return Err(format!(
                        "{what}: outcome {o:?} is neither \"pass\" nor \"fail\""
                    ));
                }
            };
            let never = match e.get("never") {
                None => Vec::new(),
                Some(v) => v
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|m| m.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or(format!("{what}: `never` is not a list of strings"))?,
            };
            for m in &never {
                if ![
                    "JobTransferred",
                    "JobError",
                    "JobModification",
                    "FileTransferred",
                ]
                .contains(&m.as_str())
                {
                    return Err(format!("{what}: `{m}` is not a notification"));
                }
            }
            let budget = match e.get("budget") {
                None => None,
                Some(v) => Some(std::time::Duration::from_secs(
                    v.as_integer()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or(format!(
                            "{what}: `budget` is not a positive number of seconds"
                        ))?,
                )),
            };
            cases.insert(
                name.clone(),
                Entry {
                    expected,
                    never,
                    budget,
                },
            );
        }
        if let Some(c) = CASES.iter().find(|c| !cases.contains_key(c.name)) {
            return Err(format!("no expected outcome for `{}`", c.name));
        }
        Ok(ExpectedOutcomes {
            implementation,
            column,
            wine_version,
            cases,
        })
    }

    /// The entry of case `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.cases.get(name)
    }

    /// How many cases are expected to pass.
    pub fn passing(&self) -> usize {
        self.cases
            .values()
            .filter(|e| e.expected == Expected::Pass)
            .count()
    }
}

/// The simulator's list, parsed.
pub fn simulator() -> ExpectedOutcomes {
    ExpectedOutcomes::parse(SIMULATOR).expect("expected/simulator.toml is valid")
}

/// Wine's list, parsed.
pub fn wine() -> ExpectedOutcomes {
    ExpectedOutcomes::parse(WINE).expect("expected/wine.toml is valid")
}

/// The list of bitsim under Wine (through `bitsim-com.exe`), parsed.
pub fn bitsim_wine() -> ExpectedOutcomes {
    ExpectedOutcomes::parse(BITSIM_WINE).expect("expected/bitsim-wine.toml is valid")
}

/// The real-time driver's list, parsed.
pub fn realtime() -> ExpectedOutcomes {
    ExpectedOutcomes::parse(REALTIME).expect("expected/realtime.toml is valid")
}

/// Every checked-in list, in the README table's column order: the
/// simulator, the real-time driver, bitsim under Wine, Wine's BITS.
pub fn lists() -> [ExpectedOutcomes; 4] {
    [simulator(), realtime(), bitsim_wine(), wine()]
}

/// The README's table: [`markdown_table`] of every checked-in list
/// ([`lists`]).
pub fn readme_table() -> String {
    let lists = lists();
    markdown_table(&lists.iter().collect::<Vec<_>>())
}

/// The suite as a Markdown table: one row per case, one column per list,
/// and real BITS (the reference every case must pass on Windows) last.
pub fn markdown_table(lists: &[&ExpectedOutcomes]) -> String {
    let mut out = String::from("| case | budget |");
    for l in lists {
        let _ = write!(out, " {} |", l.column);
    }
    out.push_str(" real BITS (reference) |\n|---|---|");
    for _ in lists {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for c in CASES {
        let slow = if c.slow { ", slow" } else { "" };
        let _ = write!(out, "| {} | {} s{slow} |", c.summary, c.budget.as_secs());
        for l in lists {
            let cell = match l.get(c.name).map(|e| &e.expected) {
                Some(Expected::Pass) => "✓".to_owned(),
                Some(Expected::Fail { cause, .. }) => format!("✗ {}", cause.replace('|', "\\|")),
                None => "?".to_owned(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push_str(" must pass |\n");
    }
    let _ = write!(out, "| **passing** | |");
    for l in lists {
        let _ = write!(out, " **{} of {}** |", l.passing(), CASES.len());
    }
    let _ = writeln!(out, " {} |", CASES.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_lists_parse_and_cover_every_case() {
        for list in lists() {
            assert_eq!(list.cases.len(), CASES.len(), "{}", list.column);
        }
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        let head = "implementation = \"x\"\ncolumn = \"x\"\n";
        let e =
            ExpectedOutcomes::parse(&format!("{head}[cases.no_such_case]\noutcome = \"pass\"\n"))
                .unwrap_err();
        assert!(e.contains("no_such_case"), "{e}");
        let e = ExpectedOutcomes::parse(&format!(
            "{head}[cases.download_lifecycle]\noutcome = \"maybe\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("maybe"), "{e}");
        let e = ExpectedOutcomes::parse(&format!(
            "{head}[cases.download_lifecycle]\noutcome = \"fail\"\nfailure = \"x\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("cause"), "{e}");
        let e = ExpectedOutcomes::parse(&format!(
            "{head}[cases.download_lifecycle]\noutcome = \"pass\"\nnever = [\"JobErorr\"]\n"
        ))
        .unwrap_err();
        assert!(e.contains("JobErorr"), "{e}");
        let e = ExpectedOutcomes::parse(&format!(
            "{head}[cases.download_lifecycle]\noutcome = \"pass\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("no expected outcome"), "{e}");
    }

    #[test]
    fn a_case_that_starts_to_pass_is_a_change() {
        use crate::conformance::{Outcome, SimHarness, check};
        let mut list = simulator();
        let sim = check(
            "resume_empty_job_is_bg_e_empty",
            &mut SimHarness,
            Some(&list),
        );
        assert_eq!(sim, Ok(Outcome::Pass));
        list.cases.insert(
            "resume_empty_job_is_bg_e_empty".into(),
            Entry {
                expected: Expected::Fail {
                    failure: "E_NOTIMPL".into(),
                    cause: "a stub".into(),
                },
                never: Vec::new(),
                budget: None,
            },
        );
        let e = check(
            "resume_empty_job_is_bg_e_empty",
            &mut SimHarness,
            Some(&list),
        )
        .unwrap_err();
        assert!(e.contains("now PASSES"), "{e}");
    }

    #[test]
    fn the_readme_shows_the_generated_table() {
        let readme = include_str!("../../../README.md");
        let start = "<!-- conformance-table:start -->\n";
        let shown = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- conformance-table:end -->"))
            .map(|(table, _)| table)
            .expect("README.md has the conformance-table markers");
        assert_eq!(
            shown,
            readme_table(),
            "README.md's conformance table is stale: paste the output of \
             `cargo run -p bitsim-windows --example conformance-table`"
        );
    }

    #[test]
    fn the_table_has_a_row_per_case_and_a_total() {
        let t = readme_table();
        assert_eq!(t.lines().count(), 2 + CASES.len() + 1);
        assert!(
            t.contains(
                "| case | budget | simulator | real-time driver | bitsim under Wine | Wine 8.0 | real BITS (reference) |"
            ),
            "{t}"
        );
    }
}
