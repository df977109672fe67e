//! `bitsim run`, `check`, `explain` and `diagram`.

use crate::out::{out, outln};
use bitsim::{Report, Scenario, ScenarioError, Simulation};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Output format of `bitsim run`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// A human-readable timeline.
    Text,
    /// The trace as a JSON array.
    Json,
}

/// `bitsim run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Seed for the run's RNG (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the trace to this file (JSON).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Timeline format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Leave out the legend that heads the text timeline.
    #[arg(long)]
    no_legend: bool,
}

/// `bitsim check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Directory of scenario files (`*.toml`; minimal fuzz cases,
    /// `*.min.toml`, are skipped).
    dir: PathBuf,
    /// Seed for every run (default: each scenario's own).
    #[arg(long)]
    seed: Option<u64>,
}

/// `bitsim explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
}

/// Diagram formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiagramFormat {
    /// Mermaid `stateDiagram-v2`.
    Mermaid,
    /// Graphviz dot.
    Dot,
    /// The whole transition table as Markdown.
    Table,
}

/// `bitsim diagram`.
#[derive(Debug, clap::Args)]
pub struct DiagramArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: DiagramFormat,
}

fn load(path: &Path) -> Result<Scenario, i32> {
    Scenario::load(path).map_err(|e| {
        let kind = match e {
            ScenarioError::Io { .. } => "cannot read scenario",
            _ => "malformed scenario",
        };
        eprintln!("error: {kind}: {e}");
        2
    })
}

fn print_failures(report: &Report) {
    eprintln!(
        "FAIL {} (seed {}): {} expectation(s) and {} propert(y/ies) did not hold",
        report.scenario,
        report.seed,
        report.failures.len(),
        report.property_failures.len()
    );
    for f in report.failures.iter().chain(&report.property_failures) {
        eprintln!("  - {f}");
    }
}

/// The BITS invariants `bitsim fuzz` checks, on one exact run: so the
/// replay of a fuzz failure shows the same failure.
fn invariant_failures(scenario: &Scenario, report: &Report) -> Vec<String> {
    let case = bitsim::fuzz::FuzzCase::exact(scenario.clone(), report.seed);
    let view = bitsim::fuzz::RunView {
        case: &case,
        report,
    };
    bitsim::fuzz::bits_invariants()
        .iter()
        // Properties are reported with the expectations.
        .filter(|i| i.name() != "the scenario's properties hold")
        .filter_map(|i| {
            i.check(&view)
                .err()
                .map(|why| format!("{}: {why}", i.name()))
        })
        .collect()
}

/// Runs `bitsim run`; returns the exit code.
pub fn run(args: RunArgs) -> i32 {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let report = Simulation::new(scenario.clone(), seed).run();
    match args.format {
        Format::Text => {
            if !args.no_legend {
                out!("{}", bitsim::trace::LEGEND);
            }
            out!("{}", report.trace.to_text())
        }
        Format::Json => outln!("{}", report.trace.to_json()),
    }
    let broken = invariant_failures(&scenario, &report);
    if let Some(path) = &args.trace
        && let Err(e) = std::fs::write(path, report.trace.to_json())
    {
        eprintln!("error: cannot write trace to {}: {e}", path.display());
        return 2;
    }
    for b in &broken {
        eprintln!("BITS invariant broken: {b}");
    }
    if report.passed() && broken.is_empty() {
        eprintln!(
            "PASS {} (seed {seed}, {} events, ended at {})",
            report.scenario, report.events, report.end
        );
        0
    } else {
        print_failures(&report);
        eprintln!(
            "replay: bitsim run {} --seed {seed}",
            args.scenario.display()
        );
        1
    }
}

/// Runs `bitsim check`; returns the exit code.
pub fn check(args: CheckArgs) -> i32 {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&args.dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            // Minimal cases written by `bitsim fuzz` fail by design.
            .filter(|p| !p.to_string_lossy().ends_with(".min.toml"))
            .collect(),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.dir.display());
            return 2;
        }
    };
    files.sort();
    if files.is_empty() {
        eprintln!("error: no *.toml scenarios in {}", args.dir.display());
        return 2;
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for f in &files {
        bar.set_message(f.display().to_string());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Scenario::load(f) {
            Err(e) => {
                broken += 1;
                rows.push((name, "MALFORMED".to_owned(), String::new(), e.to_string()));
            }
            Ok(s) => {
                let seed = args.seed.unwrap_or(s.seed);
                let r = Simulation::new(s, seed).run();
                let detail = r
                    .failures
                    .iter()
                    .chain(&r.property_failures)
                    .map(|f| f.to_string().replace('\n', " "))
                    .collect::<Vec<_>>()
                    .join("; ");
                if r.passed() {
                    passed += 1;
                    rows.push((name, "pass".into(), r.end.to_string(), String::new()));
                } else {
                    failed += 1;
                    rows.push((name, "FAIL".into(), r.end.to_string(), detail));
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(8).max(8);
    outln!(
        "{:<w$}  {:<9}  {:>16}  details",
        "scenario",
        "result",
        "virtual end"
    );
    for (name, result, end, detail) in &rows {
        outln!("{name:<w$}  {result:<9}  {end:>16}  {detail}");
    }
    outln!(
        "\n{passed} passed, {failed} failed{} ({} scenarios in {:.2?})",
        if broken > 0 {
            format!(", {broken} malformed")
        } else {
            String::new()
        },
        files.len(),
        started.elapsed()
    );
    if broken > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}

/// Runs `bitsim explain`; returns the exit code.
pub fn explain(args: ExplainArgs) -> i32 {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    outln!("# {}\n", scenario.name);
    if !scenario.description.is_empty() {
        outln!("{}\n", scenario.description.trim());
    }
    for s in &scenario.sources {
        outln!("Source: {s}");
    }
    outln!();
    let seed = args.seed.unwrap_or(scenario.seed);
    let report = Simulation::new(scenario, seed).run();
    out!("{}", bitsim::explain::narrate(&report.trace));
    if report.passed() {
        outln!("\nEvery expectation of the scenario held.");
        0
    } else {
        print_failures(&report);
        1
    }
}

/// Runs `bitsim diagram`; returns the exit code.
pub fn diagram(args: DiagramArgs) -> i32 {
    match args.format {
        DiagramFormat::Mermaid => out!("{}", bitsim::diagram::mermaid()),
        DiagramFormat::Dot => out!("{}", bitsim::diagram::dot()),
        DiagramFormat::Table => out!("{}", bitsim::diagram::markdown_table()),
    }
    0
}

/// `bitsim fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// The scenario to fuzz around (its jobs, servers and callback scripts).
    scenario: PathBuf,
    /// Number of cases.
    #[arg(long, default_value_t = 1000)]
    cases: u32,
    /// Campaign seed: the same seed generates the same cases.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run one case per seed in A..B (for splitting a campaign over a CI
    /// matrix or several machines); overrides --cases and --seed.
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    seed_range: Option<std::ops::Range<u64>>,
    /// Where to write the minimal failing scenario (default:
    /// `bitsim-fuzz/NAME-seedS.min.toml` in the system's temporary
    /// directory, never beside the scenario).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also check the scenario's exact `[[expect]]` blocks and its actions'
    /// `expect_hr`/`expect` (they describe the unperturbed run, so a
    /// perturbed world breaks them by design). By default only the BITS
    /// invariants and the scenario's `[[properties]]` are checked.
    #[arg(long)]
    expect: bool,
    /// Also inject random application calls (Resume, Suspend, Cancel,
    /// Complete, SetPriority, ...) on the scenario's jobs: these change the
    /// program under test, not its environment.
    #[arg(long)]
    app_actions: bool,
    /// At most this many random faults per case.
    #[arg(long, default_value_t = 6)]
    max_faults: usize,
}

fn parse_range(s: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B")?;
    let a: u64 = a.trim().parse().map_err(|_| format!("bad start {a:?}"))?;
    let b: u64 = b.trim().parse().map_err(|_| format!("bad end {b:?}"))?;
    if a >= b {
        return Err(format!("empty range {a}..{b}"));
    }
    Ok(a..b)
}

/// Runs `bitsim fuzz`; returns the exit code.
pub fn fuzz(args: FuzzArgs) -> i32 {
    use bitsim::fuzz::{Campaign, FoundFailure, FuzzConfig, around};
    let base = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = FuzzConfig::default()
        .with_max_faults(args.max_faults)
        .with_app_actions(args.app_actions);
    let total = args
        .seed_range
        .as_ref()
        .map_or(u64::from(args.cases), |r| r.end - r.start);
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let tick = {
        let bar = bar.clone();
        move || bar.inc(1)
    };
    let campaign = |cases: u32, seed: u64| {
        Campaign::new(around(base.clone(), opts.clone()))
            .expectations(args.expect)
            .cases(cases)
            .seed(seed)
            .on_case(tick.clone())
            .run()
    };
    let mut cases = 0;
    let mut failure = None;
    match &args.seed_range {
        None => {
            let o = campaign(args.cases, args.seed);
            cases += o.cases;
            failure = o.failure;
        }
        Some(r) => {
            for seed in r.clone() {
                let o = campaign(1, seed);
                cases += o.cases;
                if o.failure.is_some() {
                    failure = o.failure;
                    break;
                }
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let rate = cases as f64 / elapsed.as_secs_f64().max(1e-9);
    match failure {
        None => {
            outln!("{cases} cases passed in {elapsed:.2?} ({rate:.0} cases/s)");
            0
        }
        Some(f) => {
            outln!("FAIL after {cases} cases in {elapsed:.2?} ({rate:.0} cases/s)");
            outln!("{}", f.message);
            outln!(
                "original failing case: seed {}, {}",
                f.original.seed,
                FoundFailure::added(&f.original)
            );
            outln!(
                "minimal failing case:  seed {}, {}; it fails the same way",
                f.case.seed,
                FoundFailure::added(&f.case)
            );
            let stem = args
                .scenario
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            let out = args.out.clone().unwrap_or_else(|| {
                std::env::temp_dir()
                    .join("bitsim-fuzz")
                    .join(format!("{stem}-seed{}.min.toml", f.case.seed))
            });
            let text = format!(
                "# Minimal failing case found by `bitsim fuzz` around {} (seed {}).\n# {}\n{}",
                args.scenario.display(),
                f.case.seed,
                f.message.replace('\n', "\n# "),
                f.case.to_toml()
            );
            let written = out
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&out, &text));
            match written {
                Ok(()) => {
                    outln!("minimal failing scenario written to {}", out.display());
                    outln!(
                        "replay: bitsim run {} --seed {}",
                        out.display(),
                        f.case.seed
                    );
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot write {}: {e}; the minimal case follows",
                        out.display()
                    );
                    outln!("{text}");
                    outln!(
                        "replay: save the TOML above as FILE, then bitsim run FILE --seed {}",
                        f.case.seed
                    );
                }
            }
            1
        }
    }
}
