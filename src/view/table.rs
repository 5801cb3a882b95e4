//! The table every pane draws: columns fitted to the width by priority, rows trimmed to
//! the visible window around the selection.

use std::borrow::Cow;

/// The semantic role of a piece of text; the theme gives it a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Normal,
    Ok,
    Warn,
    Crit,
    Stale,
    Muted,
    Accent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>, tone: Tone) -> Self {
        Self { text: text.into(), tone }
    }

    pub fn plain(text: impl Into<String>) -> Self {
        Self::new(text, Tone::Normal)
    }

    pub fn muted(text: impl Into<String>) -> Self {
        Self::new(text, Tone::Muted)
    }
}

/// A column a pane can show.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    /// Its heading; lines separated by `\n` make a taller header.
    pub title: Cow<'static, str>,
    /// Width it needs.
    pub width: u16,
    /// 0 is always shown; higher numbers are dropped first when space runs out.
    pub priority: u8,
    /// Takes the width left over (at most one per table).
    pub flex: bool,
    pub right: bool,
}

impl ColumnSpec {
    pub const fn new(title: &'static str, width: u16, priority: u8) -> Self {
        Self { title: Cow::Borrowed(title), width, priority, flex: false, right: false }
    }

    /// A column whose heading is made at run time.
    pub fn named(title: String, width: u16, priority: u8) -> Self {
        Self { title: Cow::Owned(title), width, priority, flex: false, right: false }
    }

    pub const fn flex(mut self) -> Self {
        self.flex = true;
        self
    }

    pub const fn right(mut self) -> Self {
        self.right = true;
        self
    }
}

/// A column as drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub title: String,
    pub width: u16,
    pub right: bool,
}

pub const SPACING: u16 = 1;

/// Which columns fit in `width`, and how wide each is. Returns the indices of the specs
/// kept, in their original order.
pub fn fit(specs: &[ColumnSpec], width: u16) -> Vec<(usize, Column)> {
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| specs[i].priority);
    let mut kept: Vec<usize> = Vec::new();
    let mut used: u16 = 0;
    for i in order {
        let need = specs[i].width + if kept.is_empty() { 0 } else { SPACING };
        if used + need <= width || specs[i].priority == 0 {
            used += need;
            kept.push(i);
        }
    }
    kept.sort_unstable();
    let spare = width.saturating_sub(used);
    kept.into_iter()
        .map(|i| {
            let s = &specs[i];
            let w = if s.flex { s.width + spare } else { s.width };
            (i, Column { title: s.title.to_string(), width: w, right: s.right })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableVm {
    pub columns: Vec<Column>,
    /// Lines of the header (the tallest column heading).
    pub header_height: u16,
    /// Only the visible rows.
    pub rows: Vec<Vec<Cell>>,
    /// The selected row among `rows`.
    pub selected: Option<usize>,
    /// Rows in all (filtered), and the index of the first visible one.
    pub total: usize,
    pub offset: usize,
    /// Shown instead of rows when there are none.
    pub empty: Option<String>,
}

impl TableVm {
    /// Builds the visible part of a table: `all` rows (full cells, one per spec), the
    /// selected index among them, and `height` rows of room (the header excluded).
    pub fn build(
        specs: &[ColumnSpec],
        width: u16,
        height: usize,
        all: Vec<Vec<Cell>>,
        selected: Option<usize>,
    ) -> Self {
        let total = all.len();
        Self::window(specs, width, height, total, selected, |visible| {
            all.into_iter().skip(visible.start).take(visible.len()).collect()
        })
    }

    /// As `build`, for a table of `total` rows whose cells are made only for the visible
    /// ones: `visible` gets their range and returns their full cells.
    pub fn window(
        specs: &[ColumnSpec],
        width: u16,
        height: usize,
        total: usize,
        selected: Option<usize>,
        visible: impl FnOnce(std::ops::Range<usize>) -> Vec<Vec<Cell>>,
    ) -> Self {
        let fitted = fit(specs, width);
        let height = height.max(1);
        let offset = match selected {
            Some(s) if s >= height => s + 1 - height,
            _ => 0,
        };
        let rows = visible(offset..total.min(offset + height))
            .into_iter()
            .map(|cells| {
                fitted.iter().map(|(i, _)| cells.get(*i).cloned().unwrap_or_else(|| Cell::plain(""))).collect()
            })
            .collect();
        let header_height = fitted.iter().map(|(_, c)| c.title.lines().count()).max().unwrap_or(1).max(1) as u16;
        Self {
            header_height,
            columns: fitted.into_iter().map(|(_, c)| c).collect(),
            rows,
            selected: selected.map(|s| s - offset),
            total,
            offset,
            empty: None,
        }
    }
}

/// A line of styled pieces.
pub type Line = Vec<Cell>;

/// One line of pieces joined by " · ", keeping the most important that fit in `width`:
/// `pieces` come with a priority (0 first); the kept ones stay in their given order.
pub fn fit_pieces(pieces: Vec<(u8, Vec<Cell>)>, width: u16) -> Vec<Cell> {
    let len = |cells: &[Cell]| cells.iter().map(|c| c.text.chars().count()).sum::<usize>();
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&i| pieces[i].0);
    let mut kept = vec![false; pieces.len()];
    let mut used = 0;
    for i in order {
        let need = len(&pieces[i].1) + if used == 0 { 0 } else { 3 };
        if used + need <= width as usize {
            used += need;
            kept[i] = true;
        }
    }
    let mut line = Vec::new();
    for (piece, _) in pieces.into_iter().zip(&kept).filter(|(_, k)| **k) {
        if !line.is_empty() {
            line.push(Cell::muted(" · "));
        }
        line.extend(piece.1);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_by_priority_and_flex_takes_the_rest() {
        let specs = [
            ColumnSpec::new("NAME", 10, 0),
            ColumnSpec::new("A", 5, 2),
            ColumnSpec::new("B", 5, 1),
            ColumnSpec::new("ERR", 6, 3).flex(),
        ];
        let wide = fit(&specs, 60);
        assert_eq!(wide.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(wide[3].1.width, 60 - (10 + 5 + 5 + 3));
        let narrow = fit(&specs, 16);
        assert_eq!(narrow.iter().map(|(_, c)| c.title.as_str()).collect::<Vec<_>>(), ["NAME", "B"]);
    }

    #[test]
    fn the_window_follows_the_selection() {
        let specs = [ColumnSpec::new("N", 3, 0)];
        let rows: Vec<Vec<Cell>> = (0..10).map(|i| vec![Cell::plain(i.to_string())]).collect();
        let t = TableVm::build(&specs, 10, 4, rows, Some(7));
        assert_eq!(t.offset, 4);
        assert_eq!(t.selected, Some(3));
        assert_eq!(t.rows.len(), 4);
        assert_eq!(t.rows[3][0].text, "7");
        assert_eq!(t.total, 10);
    }

    #[test]
    fn a_window_makes_cells_for_the_visible_rows_only() {
        let specs = [ColumnSpec::new("N", 6, 0)];
        let mut asked = None;
        let t = TableVm::window(&specs, 10, 4, 100_000, Some(7), |range| {
            asked = Some(range.clone());
            range.map(|i| vec![Cell::plain(i.to_string())]).collect()
        });
        assert_eq!(asked, Some(4..8));
        assert_eq!((t.offset, t.selected, t.total), (4, Some(3), 100_000));
        assert_eq!(t.rows[3][0].text, "7");
        let short = TableVm::window(&specs, 10, 4, 2, None, |range| {
            assert_eq!(range, 0..2);
            range.map(|i| vec![Cell::plain(i.to_string())]).collect()
        });
        assert_eq!(short.rows.len(), 2);
    }
}
