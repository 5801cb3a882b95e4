//! Errors a user can fix, in words: one line, each cause once.

/// An error and its causes joined by `: `, skipping a cause whose words an earlier
/// message already holds (a wrapper that quotes its source), and the OS's error numbers.
pub fn words(error: &color_eyre::Report) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = strip_os_error(text.trim());
        if text.is_empty() || parts.iter().any(|p| p.contains(text)) {
            continue;
        }
        parts.push(text.to_owned());
    }
    parts.join(": ")
}

/// `No such file or directory (os error 2)` -> `No such file or directory`.
fn strip_os_error(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::WrapErr;

    #[test]
    fn each_cause_once_without_os_numbers() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os = std::io::Error::from_raw_os_error(2);
        let report = Err::<(), _>(os).wrap_err("reading kubeconfig /nope.yaml").unwrap_err();
        assert_eq!(words(&report), "reading kubeconfig /nope.yaml: No such file or directory");
        let quoted = Err::<(), _>(io).wrap_err("entity not found").wrap_err("reading /x").unwrap_err();
        assert_eq!(words(&quoted), "reading /x: entity not found", "a cause already said is not said again");
    }
}
