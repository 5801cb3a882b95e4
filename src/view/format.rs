//! How numbers, durations and ages read on screen.

use std::time::Duration;

use jiff::Timestamp;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// An age or a span, short: "5s", "3m", "2h", "4d" (seconds below 2 minutes).
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// How long before `now` a moment was: "3m ago", or "—" when it is not known.
pub fn ago_text(now: Timestamp, then: Option<Timestamp>) -> String {
    then.map_or("—".to_owned(), |t| format!("{} ago", age(crate::fleet::ago(now, t))))
}

/// A propagation or other short span: "2.6s" below ten seconds when it has a fraction,
/// "6s", "42s", then as `age`.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) && d.subsec_millis() > 0 { format!("{:.1}s", d.as_secs_f64()) } else { age(d) }
}

/// A Flux revision, short: "main@sha1:3f2a1c4…" -> "main@3f2a1c4",
/// "v1.4.9@sha256:ab12…" -> "v1.4.9@ab12cd3", a bare digest -> its first 7 characters.
pub fn short_revision(revision: &str) -> String {
    let (name, digest) = match revision.rsplit_once('@') {
        Some((name, digest)) => (Some(name), digest),
        None => (None, revision),
    };
    let digest = digest.rsplit_once(':').map_or(digest, |(_, d)| d);
    let digest: String = digest.chars().take(7).collect();
    match name {
        Some(n) => format!("{n}@{digest}"),
        None => digest,
    }
}

/// Words wrapped to lines of at most `width` characters (longer words are cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..width).collect());
        }
        let word: String = word.into_iter().collect();
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A latency: "850µs", "3.2 ms", "41 ms", "1.2 s".
pub fn latency(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} s", us as f64 / 1_000_000.0)
    }
}

/// A ratio as a percentage, rounded down so 99.995 % never reads as 100 %.
pub fn percent(ratio: f64) -> String {
    let floored = (ratio * 10_000.0).floor() / 100.0;
    format!("{floored:.2}%")
}

/// A figure in milliseconds (as `fleetdeck check` reports them) shown like `latency`;
/// "—" when unknown.
pub fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| latency(Duration::from_secs_f64(v / 1000.0)))
}

/// How many terminal columns text takes (wide characters two, combining marks none).
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// The longest start of `text` that fits `columns`.
fn head(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.width().unwrap_or(0);
        if used > columns {
            return &text[..i];
        }
    }
    text
}

/// The longest end of `text` that fits `columns`.
fn tail(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices().rev() {
        used += c.width().unwrap_or(0);
        if used > columns {
            return &text[i + c.len_utf8()..];
        }
    }
    text
}

/// Cuts text to `columns` terminal columns, marking the cut with "…" at the end.
pub fn truncate(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    if columns == 0 {
        return String::new();
    }
    format!("{}…", head(text, columns - 1))
}

/// Cuts a name to `columns` with "…" in the middle, keeping its end, where names that
/// share a prefix differ (`production-europe-…-12`, `production-europe-…-13`).
pub fn truncate_middle(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    if columns < 8 {
        return truncate(text, columns);
    }
    let end = (columns - 1) / 3;
    let start = head(text, columns - 1 - end);
    format!("{start}…{}", tail(text, columns - 1 - width(start)))
}

/// Pads text with spaces to `columns` terminal columns.
pub fn pad(text: &str, columns: usize) -> String {
    format!("{text}{}", " ".repeat(columns.saturating_sub(width(text))))
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A text sparkline of samples (microseconds; `None` is a failure, drawn as ×), scaled
/// to `top` (the larger of the target and the largest sample).
pub fn sparkline(samples: &[Option<u64>], target_us: u64, width: usize) -> String {
    let skip = samples.len().saturating_sub(width);
    let shown = &samples[skip..];
    let top = shown.iter().flatten().copied().max().unwrap_or(0).max(target_us).max(1);
    shown
        .iter()
        .map(|s| match s {
            None => '×',
            Some(v) => {
                let level = ((*v as f64 / top as f64) * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(age(Duration::from_secs(5)), "5s");
        assert_eq!(age(Duration::from_secs(300)), "5m");
        assert_eq!(age(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(age(Duration::from_secs(5 * 86400)), "5d");
        assert_eq!(latency(Duration::from_micros(850)), "850µs");
        assert_eq!(latency(Duration::from_micros(3200)), "3.2 ms");
        assert_eq!(latency(Duration::from_millis(41)), "41 ms");
        assert_eq!(latency(Duration::from_millis(1200)), "1.2 s");
        assert_eq!(percent(0.99995), "99.99%");
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("東京-production", 6), "東京-…", "wide characters take two columns");
        assert_eq!(truncate_middle("production-europe-west-12", 16), "production…st-12");
        assert_ne!(truncate_middle("production-europe-west-12", 16), truncate_middle("production-europe-west-13", 16));
        assert_eq!(width(&truncate_middle("東京-production-europe-12", 15)), 15);
        assert_eq!(pad("東京", 6), "東京  ");
        assert_eq!(seconds(Duration::from_millis(2600)), "2.6s");
        assert_eq!(seconds(Duration::from_secs(42)), "42s");
        assert_eq!(seconds(Duration::from_secs(6)), "6s");
        assert_eq!(short_revision("main@sha1:3f2a1c4d5e6f7a8b9c0d"), "main@3f2a1c4");
        assert_eq!(short_revision("v1.4.9@sha256:ab12cd34ef"), "v1.4.9@ab12cd3");
        assert_eq!(short_revision("sha256:ab12cd34ef"), "ab12cd3");
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
    }

    #[test]
    fn sparklines_scale_to_the_target_and_mark_failures() {
        let line = sparkline(&[Some(0), Some(50_000), Some(100_000), None], 100_000, 10);
        assert_eq!(line, "▁▅█×");
        assert_eq!(sparkline(&[Some(1); 20], 100, 5).chars().count(), 5);
    }
}
