//! The state diagram, generated from the model's transition table
//! ([`bitsim_model::TRANSITIONS`]) — never drawn by hand.

use bitsim_model::{JobState, TRANSITIONS, Target};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Edges `(from, to) -> rule ids`, state-changing rows only.
fn edges() -> BTreeMap<(JobState, JobState), Vec<&'static str>> {
    let mut e: BTreeMap<(JobState, JobState), Vec<&'static str>> = BTreeMap::new();
    for row in TRANSITIONS {
        if let Target::State(to) = row.to {
            if row.from.is_empty() {
                continue;
            }
            for from in row.from {
                if *from != to {
                    e.entry((*from, to)).or_default().push(row.rule.id());
                }
            }
        }
    }
    e
}

/// A Mermaid `stateDiagram-v2`.
pub fn mermaid() -> String {
    let mut s = String::from("stateDiagram-v2\n    [*] --> SUSPENDED: T1 CreateJob\n");
    for ((from, to), rules) in edges() {
        let _ = writeln!(s, "    {from} --> {to}: {}", rules.join(", "));
    }
    s.push_str("    ACKNOWLEDGED --> [*]\n    CANCELLED --> [*]\n");
    s
}

/// A Graphviz `dot` digraph.
pub fn dot() -> String {
    let mut s = String::from(
        "digraph bits_job {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n    start [shape=point];\n    start -> SUSPENDED [label=\"T1\"];\n",
    );
    for st in [JobState::Acknowledged, JobState::Cancelled] {
        let _ = writeln!(s, "    {st} [peripheries=2];");
    }
    for ((from, to), rules) in edges() {
        let _ = writeln!(s, "    {from} -> {to} [label=\"{}\"];", rules.join(", "));
    }
    s.push_str("}\n");
    s
}

/// A Markdown table of every row, with its trigger, guard, effects and sources.
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| rule | trigger | guard | from | to | effects | sources |\n|---|---|---|---|---|---|---|\n",
    );
    for r in TRANSITIONS {
        let from = if r.from.is_empty() {
            "—".to_owned()
        } else {
            r.from
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let to = match r.to {
            Target::State(s) => s.to_string(),
            Target::Unchanged => "unchanged".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {from} | {to} | {} | {} |",
            r.rule.id(),
            r.trigger,
            r.guard,
            r.effects,
            r.sources.join(" ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagram_has_every_state_changing_row() {
        let m = mermaid();
        for row in TRANSITIONS {
            if matches!(row.to, Target::State(_))
                && !row.from.is_empty()
                && row.from.iter().any(|f| Target::State(*f) != row.to)
            {
                assert!(m.contains(row.rule.id()), "{} missing", row.rule.id());
            }
        }
        assert!(m.contains("TRANSIENT_ERROR --> ERROR"));
        assert!(dot().contains("TRANSIENT_ERROR -> QUEUED"));
    }
}
