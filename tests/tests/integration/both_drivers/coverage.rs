//! Every decision has a two-driver test, or a written reason why not: read
//! from the manual and from [`super::cases`] at test time, so that a new
//! decision fails here until it gets one.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The numbers of the table rows `| A<N> | ...` that follow `heading` (up
/// to the next heading), with the rest of each row.
fn rows(text: &str, heading: &str) -> Vec<(u32, String)> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("decisions.md has no {heading:?}"));
    let body = &text[start + heading.len()..];
    let body = &body[..body.find("\n#").unwrap_or(body.len())];
    body.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("| A")?;
            let (n, rest) = rest.split_once(' ')?;
            Some((n.parse().ok()?, rest.to_owned()))
        })
        .collect()
}

#[test]
fn every_decision_has_a_two_driver_test_or_a_reason() {
    let manual = read("../crates/bitsim-model/src/manual/decisions.md");
    let cases = read("tests/integration/both_drivers/cases.rs");
    let decisions: BTreeSet<u32> = rows(&manual, "# Decisions where")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(decisions.len() >= 31, "read {} decisions", decisions.len());
    let table: Vec<(u32, String)> = rows(&manual, "## Two-driver tests");
    let mut missing = Vec::new();
    for n in &decisions {
        let case = format!("fn a{n:02}_");
        let has_case = cases.contains(&case)
            && cases.contains(&format!("a{n:02}_"))
            && cases.lines().any(|l| {
                l.trim_start().starts_with(&format!("a{n:02}_")) && l.contains("_on_the_simulator")
            })
            && cases.lines().any(|l| {
                l.trim_start().starts_with(&format!("a{n:02}_"))
                    && l.contains("_on_the_real_time_driver")
            });
        let row = table.iter().find(|(m, _)| m == n).map(|(_, r)| r.as_str());
        match (has_case, row) {
            (true, Some(r)) if r.contains(&format!("a{n:02}_")) => {}
            (false, Some(r)) if r.contains("| none:") => {}
            (true, _) => missing.push(format!("A{n}: the two-driver table does not name its test")),
            (false, Some(_)) => missing.push(format!(
                "A{n}: no `{case}...` in both_drivers/cases.rs run by both drivers, and no `none:` reason"
            )),
            (false, None) => missing.push(format!(
                "A{n}: no two-driver test and no row in the manual's two-driver table"
            )),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
