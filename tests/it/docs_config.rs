//! docs/configuration.md's variable table, checked against the declarations
//! (`uid_gate::config::all_vars`): one row per declared variable and none for another, each
//! with the declared default, bounds and choices.

use uid_gate::config::{Kind, all_vars};

use crate::helpers::repo_root;

/// (name, default cell, meaning cell) of each row that names a variable.
fn rows(doc: &str) -> Vec<(String, String, String)> {
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').splitn(3, " | ").collect();
            let [name, default, meaning] = cells[..] else {
                return None;
            };
            Some((
                name.trim().trim_matches('`').to_owned(),
                default.trim().to_owned(),
                meaning.trim().to_owned(),
            ))
        })
        .collect()
}

#[test]
fn the_configuration_table_matches_the_declarations() {
    let doc = std::fs::read_to_string(repo_root().join("docs/configuration.md")).expect("doc");
    let rows = rows(&doc);
    let mut problems = Vec::new();
    for var in all_vars() {
        let found: Vec<_> = rows.iter().filter(|r| r.0 == var.name).collect();
        let [(_, default, meaning)] = found[..] else {
            problems.push(format!("{}: {} rows", var.name, found.len()));
            continue;
        };
        match var.default {
            Some(d) if *default != format!("`{d}`") => {
                problems.push(format!("{}: default {default}, declared `{d}`", var.name));
            }
            None if default.starts_with('`') => {
                problems.push(format!("{}: default {default}, declared none", var.name));
            }
            _ => {}
        }
        match var.kind {
            Kind::Number { min, max } if !meaning.contains(&format!("({min}–{max})")) => {
                problems.push(format!("{}: bounds ({min}–{max}) not stated", var.name));
            }
            Kind::Choice(words) => {
                for w in words
                    .iter()
                    .filter(|w| !meaning.contains(&format!("`{w}`")))
                {
                    problems.push(format!("{}: choice `{w}` not described", var.name));
                }
            }
            _ => {}
        }
    }
    for (name, ..) in &rows {
        if !all_vars().any(|v| v.name == name) {
            problems.push(format!("{name}: documented but not declared"));
        }
    }
    assert!(rows.len() > 20, "the table was not found: {rows:?}");
    assert!(problems.is_empty(), "docs/configuration.md: {problems:#?}");
}
