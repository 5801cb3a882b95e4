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
    /// What to show instead when `text` does not fit its column (`Unreachable 75s` for
    /// `Unreachable 75s · refused`).
    pub short: Option<String>,
}

impl Cell {
    pub fn new(text: impl Into<String>, tone: Tone) -> Self {
        Self { text: text.into(), tone, short: None }
    }

    /// The cell, with a shorter text for narrow columns.
    pub fn or_short(mut self, short: impl Into<String>) -> Self {
        self.short = Some(short.into());
        self
    }

    /// The text to draw in `columns` terminal columns: the whole text when it fits, else
    /// the short one when there is one that fits, else cut with "…" (names at their
    /// middle, keeping the end where names sharing a prefix differ).
    pub fn fitted(&self, columns: usize, name: bool) -> Cow<'_, str> {
        use super::format::{truncate, truncate_middle, width};
        if width(&self.text) <= columns {
            return Cow::Borrowed(&self.text);
        }
        let text = self.short.as_deref().unwrap_or(&self.text);
        if width(text) <= columns {
            Cow::Borrowed(text)
        } else if name {
            Cow::Owned(truncate_middle(text, columns))
        } else {
            Cow::Owned(truncate(text, columns))
        }
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
    /// This much more width when it fits, kept or dropped like a column of the given
    /// priority (a state cell's cause, wanted before less important columns).
    pub grow: (u16, u8),
    pub right: bool,
}

impl ColumnSpec {
    pub const fn new(title: &'static str, width: u16, priority: u8) -> Self {
        Self { title: Cow::Borrowed(title), width, priority, flex: false, grow: (0, 0), right: false }
    }

    /// A column whose heading is made at run time.
    pub fn named(title: String, width: u16, priority: u8) -> Self {
        Self { title: Cow::Owned(title), width, priority, flex: false, grow: (0, 0), right: false }
    }

    /// `more` columns of width when they fit, as if they were a column of `priority`.
    pub const fn grow(mut self, more: u16, priority: u8) -> Self {
        self.grow = (more, priority);
        self
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
    // Columns, and the extra width of growing ones, in priority order (a column before
    // its own growth at the same priority).
    let mut order: Vec<(u8, bool, usize)> = (0..specs.len()).map(|i| (specs[i].priority, false, i)).collect();
    order.extend((0..specs.len()).filter(|&i| specs[i].grow.0 > 0).map(|i| (specs[i].grow.1, true, i)));
    order.sort_by_key(|&(priority, growth, _)| (priority, growth));
    let mut kept: Vec<usize> = Vec::new();
    let mut grown = vec![0u16; specs.len()];
    let mut used: u16 = 0;
    for (priority, growth, i) in order {
        if growth {
            if kept.contains(&i) && used + specs[i].grow.0 <= width {
                used += specs[i].grow.0;
                grown[i] = specs[i].grow.0;
            }
            continue;
        }
        let need = specs[i].width + if kept.is_empty() { 0 } else { SPACING };
        if used + need <= width || priority == 0 {
            used += need;
            kept.push(i);
        }
    }
    kept.sort_unstable();
    let spare = width.saturating_sub(used);
    kept.into_iter()
        .map(|i| {
            let s = &specs[i];
            let w = s.width + grown[i] + if s.flex { spare } else { 0 };
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
    fn a_column_grows_when_its_growth_is_worth_more_than_the_columns_after_it() {
        let specs = [
            ColumnSpec::new("NAME", 10, 0),
            ColumnSpec::new("STATE", 10, 0).grow(8, 2),
            ColumnSpec::new("A", 5, 1),
            ColumnSpec::new("B", 5, 3),
        ];
        let widths = |w| fit(&specs, w).into_iter().map(|(i, c)| (i, c.width)).collect::<Vec<_>>();
        assert_eq!(widths(27), [(0, 10), (1, 10), (2, 5)], "no room to grow");
        assert_eq!(widths(35), [(0, 10), (1, 18), (2, 5)], "grown before B");
        assert_eq!(widths(41), [(0, 10), (1, 18), (2, 5), (3, 5)]);
        let cell = Cell::new("Unreachable 75s · refused", Tone::Crit).or_short("Unreachable 75s");
        assert_eq!(cell.fitted(30, false), "Unreachable 75s · refused");
        assert_eq!(cell.fitted(15, false), "Unreachable 75s");
        assert_eq!(cell.fitted(10, false), "Unreachab…");
        assert_eq!(Cell::plain("production-europe-west-12").fitted(16, true), "production…st-12");
    }

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
