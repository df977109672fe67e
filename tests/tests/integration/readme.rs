//! The README stays true: its diagram is the generated one.

/// The workspace README.
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

#[test]
fn readme_diagram_is_the_generated_one() {
    let readme = readme();
    let start = readme
        .find("<!-- diagram:start -->\n```mermaid\n")
        .expect("diagram start marker")
        + "<!-- diagram:start -->\n```mermaid\n".len();
    let end = readme[start..]
        .find("```\n<!-- diagram:end -->")
        .expect("diagram end marker")
        + start;
    assert_eq!(
        &readme[start..end],
        bitsim::diagram::mermaid(),
        "run `bitsim diagram` and paste it into the README"
    );
}

#[test]
fn readme_names_the_two_setup_commands_that_ci_runs() {
    let readme = readme();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/run")).unwrap();
    assert!(readme.contains("cargo run --release -- check sim-scenarios"));
    assert!(readme.contains("cargo test --workspace"));
    assert!(ci.contains("cargo test --workspace"));
}

#[test]
fn readme_server_config_example_is_a_valid_config() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/server.md")).unwrap();
    let section = guide
        .split("## Configuration (`--config server.toml`)")
        .nth(1)
        .expect("configuration section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("toml block");
    let cfg = bitsim_server::Config::from_toml(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    // Spot checks that the block is the one documented, not an empty file.
    assert!(
        cfg.durability == bitsim_server::Durability::ProcessKill
            && cfg.repoll
            && !cfg.allow_overwrite
            && cfg.max_discard_bytes == 16 << 20
    );
    assert!(!cfg.faults.is_empty() && !cfg.reply.is_empty());
}

/// The repository stands alone: every relative link in the README and in
/// `docs/` points at a file of the repository, and none of them names a
/// file outside it.
#[test]
fn readme_and_docs_links_resolve_inside_the_repository() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        pages.push(e.path());
    }
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.contains(' ') {
                continue;
            }
            assert!(
                dir.join(target).exists(),
                "{} links to {target}, which the repository does not have",
                page.display()
            );
        }
        // Spelled in pieces so that this file itself does not name them.
        let outside = [
            concat!("semantics", ".md"),
            concat!("DESIGN", ".md"),
            concat!("example", ".invalid"),
            concat!("..", "/shared"),
        ];
        for outside in outside {
            assert!(
                !text.contains(outside),
                "{} names {outside}",
                page.display()
            );
        }
    }
}
