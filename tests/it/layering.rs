//! The crate's modules form declared layers, and every `crate::` path in a module points
//! to its own layer or below; within a layer the modules form no cycle. So no module
//! reaches a module above it, directly or through another: the engine (fleet, journal,
//! cluster, audit, workflow, derive) never reaches the terminal crates, which only the
//! layers from `app` up use. Checked on the sources, with a lexer that skips comments,
//! strings and character literals.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. A module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["action", "paths", "errors", "fields", "glob", "fd_limit", "config", "logging"],
    &["fleet"],
    &["journal"],
    &["cluster", "audit", "workflow"],
    &["derive"],
    &["app"],
    &["view"],
    &["ui", "input", "term"],
    &["runtime", "launch", "check", "serve", "cli"],
];

/// The first layer allowed the terminal crates.
const TERMINAL_FROM: &str = "app";
const TERMINAL_CRATES: &[&str] = &["ratatui", "crossterm", "tui_input"];

/// A use of another module (or a terminal crate): where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    to: String,
    file: String,
    line: usize,
}

type Uses = BTreeMap<String, BTreeSet<Use>>;

/// The source with comments, string and character literals blanked (newlines kept, so
/// line numbers hold).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_lines = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep_lines(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident(chars.get(i.wrapping_sub(1))) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(chars[i..j.min(chars.len())].iter().map(|c| keep_lines(*c)));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            out.extend(chars[i..(j + 1).min(chars.len())].iter().map(|c| keep_lines(*c)));
            i = j + 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal ('x', '\n', '\u{1f}'), not a lifetime.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            out.extend(std::iter::repeat_n(' ', (j + 1).min(chars.len()) - i));
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The identifier at the start of `s`.
fn first_ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level items of a `{…}` group that starts at `s` (after the brace).
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = vec![first_ident(s).to_owned()];
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(first_ident(&s[i + 1..]).to_owned()),
            _ => {}
        }
    }
    heads.into_iter().filter(|h| !h.is_empty() && h != "self").collect()
}

/// What a file's code uses: modules of the crate (`crate::x`) and the terminal crates.
fn uses_in(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        let mut at = 0;
        while let Some(i) = rest.find("crate::") {
            let before = line[..at + i].chars().last();
            let after = &rest[i + "crate::".len()..];
            if !ident(before.as_ref()) && before != Some('$') {
                if after.starts_with('{') {
                    // A group may go on over the next lines.
                    let start = code.lines().take(n).map(|l| l.len() + 1).sum::<usize>() + at + i + 8;
                    found.extend(group_heads(&code[start..]).into_iter().map(|h| (h, n + 1)));
                } else {
                    found.push((first_ident(after).to_owned(), n + 1));
                }
            }
            at += i + "crate::".len();
            rest = &line[at..];
        }
        for krate in TERMINAL_CRATES {
            let needle = format!("{krate}::");
            let mut from = 0;
            while let Some(i) = line[from..].find(&needle) {
                let before = line[..from + i].chars().last();
                if !ident(before.as_ref()) && before != Some(':') {
                    found.push((krate.to_string(), n + 1));
                }
                from += i + needle.len();
            }
        }
    }
    found
}

/// Every module's uses of other modules and of the terminal crates.
fn crate_uses(src: &Path) -> Uses {
    let mut uses = Uses::new();
    for file in common::source_files() {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let mut parts = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(first) = parts.next() else { continue };
        let module = first.trim_end_matches(".rs").to_owned();
        // The simulated fleet is a crate of its own (its `crate::` is itself).
        if module == "lib" || module == "main" || module == "sim" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (to, line) in uses_in(&code_only(&text)) {
            if to != module {
                let file = relative.display().to_string();
                uses.entry(module.clone()).or_default().insert(Use { to, file, line });
            }
        }
        uses.entry(module).or_default();
    }
    uses
}

fn layer_of(module: &str, layers: &[&[&str]]) -> Option<usize> {
    layers.iter().position(|l| l.contains(&module))
}

/// What breaks the layering: a module not declared, a use of a higher layer, a terminal
/// crate below `terminal_from`, a cycle within a layer.
fn problems(uses: &Uses, layers: &[&[&str]], terminal_from: &str) -> Vec<String> {
    let mut out = Vec::new();
    let terminal_floor = layer_of(terminal_from, layers).unwrap_or(0);
    for (module, used) in uses {
        let Some(mine) = layer_of(module, layers) else {
            out.push(format!("module {module} is in no declared layer"));
            continue;
        };
        for u in used {
            if TERMINAL_CRATES.contains(&u.to.as_str()) {
                if mine < terminal_floor {
                    out.push(format!("{}:{}: {module} uses {} below the {terminal_from} layer", u.file, u.line, u.to));
                }
                continue;
            }
            match layer_of(&u.to, layers) {
                Some(theirs) if theirs > mine => out.push(format!(
                    "{}:{}: {module} (layer {mine}) uses {} (layer {theirs}), a layer above it",
                    u.file, u.line, u.to
                )),
                _ => {}
            }
        }
    }
    // Within a layer: no cycle (edges to lower layers can never lead back up).
    for layer in layers {
        let within = |m: &str| -> Vec<&Use> {
            uses.get(m).map(|s| s.iter().filter(|u| layer.contains(&u.to.as_str())).collect()).unwrap_or_default()
        };
        for start in layer.iter() {
            // Depth-first from `start`, looking for a way back to it.
            let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
            let mut seen = BTreeSet::new();
            while let Some((m, path)) = stack.pop() {
                for u in within(&m) {
                    if u.to == *start {
                        let mut cycle = path.clone();
                        cycle.push(start.to_string());
                        out.push(format!("a cycle within a layer: {} (at {}:{})", cycle.join(" -> "), u.file, u.line));
                    } else if seen.insert(u.to.clone()) {
                        let mut next = path.clone();
                        next.push(u.to.clone());
                        stack.push((u.to.clone(), next));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn modules_use_only_their_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let uses = crate_uses(&src);
    assert!(uses.len() > 15, "the modules were found ({})", uses.len());
    assert!(
        uses.get("cluster").is_some_and(|u| u.iter().any(|u| u.to == "fleet")),
        "the scan finds the uses there are: {uses:?}"
    );
    let problems = problems(&uses, LAYERS, TERMINAL_FROM);
    assert!(problems.is_empty(), "the layering is broken:\n{}", problems.join("\n"));
}

/// The simulated fleet is a crate below all of fleetdeck: it depends on no part of it,
/// and on no terminal crate.
#[test]
fn the_simulator_crate_stands_alone() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let deps: Vec<&String> = ["dependencies", "dev-dependencies"]
        .iter()
        .filter_map(|t| manifest.get(*t).and_then(toml::Value::as_table))
        .flat_map(|t| t.keys())
        .collect();
    assert!(deps.len() > 10, "the sim's dependencies were read: {deps:?}");
    for forbidden in ["fleetdeck", "ratatui", "crossterm", "tui-input"] {
        assert!(!deps.iter().any(|d| *d == forbidden), "the sim crate depends on {forbidden}");
    }
}

#[test]
fn the_check_finds_back_edges_terminal_crates_and_cycles() {
    let edge = |to: &str| Use { to: to.to_owned(), file: "x.rs".to_owned(), line: 1 };
    let graph = |edges: &[(&str, &str)]| -> Uses {
        let mut g = Uses::new();
        for (from, to) in edges {
            g.entry(from.to_string()).or_default().insert(edge(to));
            if !TERMINAL_CRATES.contains(to) {
                g.entry(to.to_string()).or_default();
            }
        }
        g
    };
    let layers: &[&[&str]] = &[&["leaf"], &["fleet"], &["cluster", "audit", "workflow"], &["app"]];
    let good = graph(&[("fleet", "leaf"), ("cluster", "fleet"), ("cluster", "audit"), ("app", "cluster")]);
    assert_eq!(problems(&good, layers, "app"), Vec::<String>::new());
    // The circle of the review: the engine reaching the app (and through it a terminal
    // crate) by way of a module that looked harmless.
    let back = graph(&[("cluster", "fleet"), ("fleet", "leaf"), ("leaf", "app"), ("app", "tui_input")]);
    let found = problems(&back, layers, "app");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("leaf (layer 0) uses app (layer 3)"), "{found:?}");
    let terminal = graph(&[("fleet", "tui_input")]);
    assert!(problems(&terminal, layers, "app")[0].contains("fleet uses tui_input below the app layer"));
    // Sideways edges are fine until they close a circle, however long.
    let cycle = graph(&[("cluster", "audit"), ("audit", "workflow"), ("workflow", "cluster")]);
    let found = problems(&cycle, layers, "app");
    assert!(found.iter().any(|p| p.contains("cluster -> audit -> workflow -> cluster")), "{found:?}");
    let undeclared = graph(&[("fleet", "leaf"), ("novel", "fleet")]);
    assert!(problems(&undeclared, layers, "app").iter().any(|p| p.contains("module novel is in no declared layer")));
}

#[test]
fn the_lexer_skips_comments_strings_and_sees_groups() {
    let code = code_only(
        "use crate::{fleet::a, cluster::{b, c}};\n// crate::app in a comment\nlet s = \"crate::view\";\nlet c = '\\'';\nlet r = r#\"crate::ui\"#;\nfn f<'a>(x: &'a crate::journal::J) {}\n/* crate::input */ ratatui::x();\n",
    );
    let found: Vec<(String, usize)> = uses_in(&code);
    let names: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["fleet", "cluster", "journal", "ratatui"]);
    assert_eq!(found[2].1, 6, "line numbers survive the blanking");
}
