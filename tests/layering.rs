//! The engine never depends on the terminal: `fleetdeck check`, the tests and the
//! benchmarks use it without one. Checked on the sources.

mod common;

use std::path::Path;

const ENGINE: &[&str] = &["cluster", "fleet", "sim", "workflow", "journal", "audit"];
const TERMINAL_CRATES: &[&str] = &["ratatui", "crossterm", "tui_input"];

#[test]
fn engine_modules_do_not_import_terminal_crates() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for module in ENGINE {
        let dir = src.join(module);
        for file in common::source_files().into_iter().filter(|f| f.starts_with(&dir)) {
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for krate in TERMINAL_CRATES {
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    assert!(
                        !code.contains(&format!("{krate}::")),
                        "{}:{}: {krate} in an engine module: {line}",
                        file.display(),
                        n + 1
                    );
                }
            }
        }
    }
    assert!(checked > 20, "the engine sources were found ({checked} files)");
}
