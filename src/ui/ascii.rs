//! `--ascii`: a drawn buffer turned into ASCII for terminals without box drawing, block
//! elements or symbols. Every cell keeps its width of one: borders become `+ - |`, chart
//! bars a ramp of ASCII marks, punctuation its nearest ASCII, anything else `?`.

use ratatui::buffer::Buffer;

/// The ASCII stand-in of a character.
fn fold_char(c: char) -> char {
    match c {
        ' '..='~' => c,
        // Box drawing.
        '─' | '━' | '┄' | '┅' | '┈' | '┉' | '╌' | '╍' | '═' | '╴' | '╶' | '╸' | '╺' => '-',
        '│' | '┃' | '┆' | '┇' | '┊' | '┋' | '╎' | '╏' | '║' | '╵' | '╷' | '╹' | '╻' => '|',
        '\u{2500}'..='\u{257f}' => '+',
        // Block elements, lowest to fullest (sparklines and bars).
        '▁' => '_',
        '▂' => '.',
        '▃' => '-',
        '▄' => '=',
        '▅' => '+',
        '▆' => '*',
        '▇' | '█' | '▉' | '▊' | '▋' => '#',
        '▌' | '▍' | '▎' | '▏' | '▐' => '|',
        '░' => ':',
        '▒' | '▓' => '%',
        '\u{2580}'..='\u{259f}' => '#',
        '\u{2800}' => ' ',
        '\u{2801}'..='\u{28ff}' => ':',
        '·' | '•' | '∙' => '.',
        '—' | '–' | '‒' | '−' => '-',
        '…' => '~',
        '×' | '✗' | '✘' | '✖' => 'x',
        '✓' | '✔' => 'v',
        'µ' => 'u',
        '≤' | '←' | '◂' | '◀' => '<',
        '≥' | '→' | '▸' | '▶' | '›' => '>',
        '↑' | '▴' | '▲' => '^',
        '↓' | '▾' | '▼' => 'v',
        '●' | '◆' | '■' | '★' => '*',
        '○' | '◇' | '□' => 'o',
        '⚠' | '⚑' => '!',
        '“' | '”' | '„' => '"',
        '‘' | '’' => '\'',
        '\u{a0}' => ' ',
        _ => '?',
    }
}

/// Folds every cell of the buffer to ASCII.
pub fn fold(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        let symbol = cell.symbol();
        if symbol.is_ascii() {
            continue;
        }
        let mut chars = symbol.chars();
        let folded = match (chars.next(), chars.next()) {
            (Some(c), None) => fold_char(c),
            // A grapheme of several characters (an emoji with modifiers, a combining mark).
            _ => '?',
        };
        cell.set_char(folded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Widget};

    #[test]
    fn borders_bars_and_text_become_ascii() {
        let area = Rect::new(0, 0, 24, 5);
        let mut buf = Buffer::empty(area);
        Paragraph::new("p95 12 µs · ok… ≤ 30 s —")
            .block(Block::default().borders(Borders::ALL).title("Keys"))
            .render(area, &mut buf);
        Sparkline::default().data([1u64, 4, 8]).render(Rect::new(1, 3, 3, 1), &mut buf);
        fold(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{text}");
        assert!(text.starts_with("+Keys-"), "{text}");
        assert!(text.contains("|p95 12 us . ok~ < 30 s|"), "{text}");
    }
}
