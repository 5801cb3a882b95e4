//! The widgets: a screen view model drawn into a buffer. No I/O, no locks, no clock.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Row, Sparkline, Table, Widget, Wrap,
};

use super::theme::Theme;
use crate::view::chrome::{FooterVm, HeaderVm, HelpVm};
use crate::view::detail::{ChartVm, DetailVm};
use crate::view::operation::OperationVm;
use crate::view::propagation::RevisionChartVm;
use crate::view::table::{Cell as VmCell, TableVm, Tone};
use crate::view::wall::WallVm;
use crate::view::{Body, ScreenVm};

/// A screen with its theme, ready to draw.
pub struct Screen<'a> {
    pub vm: &'a ScreenVm,
    pub theme: &'a Theme,
}

fn spans<'a>(cells: &'a [VmCell], theme: &Theme) -> Vec<Span<'a>> {
    cells.iter().map(|c| Span::styled(c.text.as_str(), theme.tone(c.tone))).collect()
}

impl Widget for Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Screen { vm, theme } = self;
        if let Some(message) = &vm.too_small {
            Paragraph::new(message.as_str())
                .wrap(Wrap { trim: true })
                .style(theme.tone(crate::view::table::Tone::Warn))
                .render(area, buf);
            return;
        }
        let subtitle_rows = vm.subtitle.len() as u16;
        let [header, alert, title, subtitle, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(u16::from(vm.alert.is_some())),
            Constraint::Length(1),
            Constraint::Length(subtitle_rows),
            Constraint::Min(1),
            Constraint::Length(2),
        ])
        .areas(area);
        render_header(&vm.header, theme, header, buf);
        if let Some(cells) = &vm.alert {
            Line::from(spans(cells, theme)).style(theme.danger()).render(alert, buf);
        }
        let mut title_spans = vec![Span::styled(vm.title.as_str(), Style::new().add_modifier(Modifier::BOLD))];
        if let Body::Table(t) = &vm.body
            && t.total > t.rows.len()
        {
            let last = t.offset + t.rows.len();
            title_spans.push(Span::styled(
                format!("  rows {}-{} of {}", t.offset + 1, last, t.total),
                theme.tone(crate::view::table::Tone::Muted),
            ));
        }
        Line::from(title_spans).render(title, buf);
        let lines: Vec<Line> = vm.subtitle.iter().map(|l| Line::from(spans(l, theme))).collect();
        Paragraph::new(Text::from(lines)).render(subtitle, buf);
        let body = match (&vm.chart, &vm.body) {
            (Some((chart, height)), Body::Table(t)) => {
                // The chart right below the rows (not pushed to the bottom of the screen).
                let rows = t.header_height + t.rows.len().max(1) as u16;
                let [table, _, below, _] = Layout::vertical([
                    Constraint::Length(rows),
                    Constraint::Length(1),
                    Constraint::Length(*height),
                    Constraint::Min(0),
                ])
                .areas(body);
                render_revisions(chart, theme, below, buf);
                table
            }
            _ => body,
        };
        match &vm.body {
            Body::Table(t) => render_table(t, theme, body, buf),
            Body::Detail(d) => render_detail(d, theme, body, buf),
            Body::Message(m) => Paragraph::new(m.as_str())
                .wrap(Wrap { trim: true })
                .style(theme.tone(crate::view::table::Tone::Muted))
                .render(body, buf),
            Body::Wall(w) => render_wall(w, theme, body, buf),
        }
        render_footer(&vm.footer, theme, footer, buf);
        if let Some(op) = &vm.operation {
            render_operation(op, theme, area, buf);
        }
        if let Some(help) = &vm.help {
            render_help(help, theme, area, buf);
        }
    }
}

/// The wall's sections: a heading line each (when grouped), then tiles left to right,
/// top to bottom; a tile with a problem is a block of its tone's colour.
fn render_wall(w: &WallVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let gap = u16::from(w.tile_height > 1);
    let mut y = area.y;
    let bottom = area.y + area.height;
    for section in &w.sections {
        if let Some(heading) = &section.heading {
            if y >= bottom {
                return;
            }
            Line::from(spans(heading, theme)).render(Rect { x: area.x, y, width: area.width, height: 1 }, buf);
            y += 1;
        }
        for row in section.tiles.chunks(w.columns.max(1) as usize) {
            if y + w.tile_height > bottom {
                return;
            }
            for (i, tile) in row.iter().enumerate() {
                let x = area.x + i as u16 * (w.tile_width + 1);
                let rect = Rect { x, y, width: w.tile_width.min(area.x + area.width - x), height: w.tile_height };
                let style = if tile.filled {
                    theme.tone(tile.tone).add_modifier(Modifier::REVERSED)
                } else {
                    theme.tone(tile.tone)
                };
                let lines: Vec<Line> = tile
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(n, l)| {
                        let line = Line::from(l.as_str());
                        if n == 0 && w.tile_height > 1 {
                            line.style(Style::new().add_modifier(Modifier::BOLD))
                        } else {
                            line
                        }
                    })
                    .collect();
                Paragraph::new(lines).style(style).render(rect, buf);
            }
            y += w.tile_height + gap;
        }
    }
}

/// The header: brand, pane tabs and clock, dropping the brand and then the clock when
/// the terminal is too narrow for all three.
fn render_header(h: &HeaderVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let labels: usize = h.tabs.iter().map(|(label, _)| label.chars().count()).sum();
    let brand = " fleetdeck ";
    // The badge is never dropped: the brand and then the clock give way to it.
    let badge = h.badge.as_ref().map(|b| format!(" {b} "));
    let badge_width = badge.as_ref().map_or(0, |b| b.chars().count() + 1);
    let clock = h.right.chars().count() + 1;
    let width = (area.width as usize).saturating_sub(badge_width);
    // Tabs padded on both sides when that leaves room for the clock, else tighter.
    let roomy = labels + 3 * h.tabs.len() + clock <= width;
    let tabs_width = labels + if roomy { 3 } else { 1 } * h.tabs.len();
    let show_brand = brand.len() + tabs_width + clock <= width;
    let show_clock = tabs_width + clock <= width;
    let area = match &badge {
        Some(b) => {
            let w = (b.chars().count() as u16).min(area.width);
            let at = Rect { x: area.x + area.width - w, width: w, ..area };
            Line::from(Span::styled(
                b.as_str(),
                theme.tone(crate::view::table::Tone::Crit).add_modifier(Modifier::REVERSED),
            ))
            .render(at, buf);
            Rect { width: area.width.saturating_sub(w + 1), ..area }
        }
        None => area,
    };
    let mut line = Vec::new();
    if show_brand {
        line.push(Span::styled(brand, theme.focus()));
    }
    for (label, active) in &h.tabs {
        line.push(Span::raw(" "));
        let style = if *active {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            theme.tone(crate::view::table::Tone::Muted)
        };
        line.push(Span::styled(if roomy { format!(" {label} ") } else { label.clone() }, style));
    }
    Line::from(line).render(area, buf);
    if show_clock {
        Line::from(h.right.as_str()).alignment(Alignment::Right).render(area, buf);
    }
}

fn render_table(t: &TableVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    if t.rows.is_empty() {
        let message = t.empty.as_deref().unwrap_or("nothing to show");
        Paragraph::new(message).style(theme.tone(crate::view::table::Tone::Muted)).render(area, buf);
        return;
    }
    let header = Row::new(t.columns.iter().map(|c| {
        let text = Text::from_iter(c.title.lines().map(Line::from));
        if c.right { text.alignment(Alignment::Right) } else { text }
    }))
    .height(t.header_height)
    .style(theme.heading());
    let rows = t.rows.iter().enumerate().map(|(i, cells)| {
        let row = Row::new(cells.iter().zip(&t.columns).enumerate().map(|(i, (cell, col))| {
            let line = Line::styled(cell.fitted(usize::from(col.width), i == 0), theme.tone(cell.tone));
            if col.right { line.alignment(Alignment::Right) } else { line }
        }));
        if t.selected == Some(i) { row.style(theme.selected()) } else { row }
    });
    let widths: Vec<Constraint> = t.columns.iter().map(|c| Constraint::Length(c.width)).collect();
    Table::new(rows, widths).header(header).column_spacing(crate::view::table::SPACING).render(area, buf);
}

const CHART_ROWS: u16 = 6;

fn render_detail(d: &DetailVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let chart_rows = if d.chart.is_some() && area.height > CHART_ROWS + 4 { CHART_ROWS } else { 0 };
    let [text, chart] = Layout::vertical([Constraint::Min(1), Constraint::Length(chart_rows)]).areas(area);
    let lines: Vec<Line> = d.lines.iter().map(|l| Line::from(spans(l, theme))).collect();
    let max_scroll = lines.len().saturating_sub(text.height as usize);
    let scroll = d.scroll.min(max_scroll) as u16;
    Paragraph::new(Text::from(lines)).scroll((scroll, 0)).render(text, buf);
    if let Some(c) = d.chart.as_ref().filter(|_| chart_rows > 0) {
        render_chart(c, theme, chart, buf);
    }
}

fn render_chart(c: &ChartVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let [caption, bars, marks] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(area);
    Line::styled(c.caption.as_str(), theme.tone(crate::view::table::Tone::Muted)).render(caption, buf);
    let values: Vec<u64> = c.samples.iter().map(|s| s.unwrap_or(0)).collect();
    // Scaled to the largest sample, so a fleet far below its target still shows a shape.
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    let over = values.iter().any(|v| *v > c.target_us);
    let style = theme.tone(if over { crate::view::table::Tone::Warn } else { crate::view::table::Tone::Ok });
    Sparkline::default().data(&values).max(top).style(style).render(bars, buf);
    let failures: String = c.samples.iter().map(|s| if s.is_none() { '×' } else { ' ' }).collect();
    Line::styled(failures, theme.tone(crate::view::table::Tone::Crit)).render(marks, buf);
}

/// The fleet's propagation per revision: one bar each, its value inside, its revision
/// below.
fn render_revisions(c: &RevisionChartVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let [caption, bars] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    Line::styled(c.caption.as_str(), theme.tone(Tone::Muted)).render(caption, buf);
    let data: Vec<Bar> = c
        .bars
        .iter()
        .map(|b| {
            Bar::default()
                .value(b.value_ms)
                .text_value(b.text.clone())
                .label(Line::from(b.label.as_str()))
                .style(theme.tone(b.tone))
                .value_style(theme.tone(b.tone).add_modifier(Modifier::REVERSED))
        })
        .collect();
    BarChart::default()
        .data(BarGroup::default().bars(&data))
        .bar_width(c.bar_width)
        .bar_gap(1)
        .max(c.max_ms)
        .render(bars, buf);
}

fn render_footer(f: &FooterVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let [status, keys] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    Line::from(spans(&f.status, theme)).render(status, buf);
    if let Some(e) = &f.editing {
        Line::from(vec![Span::styled(e.lead.as_str(), theme.focus()), Span::raw(e.text.as_str())]).render(keys, buf);
        return;
    }
    let mut line = Vec::new();
    for (key, what) in &f.hints {
        line.push(Span::styled(key.as_str(), theme.focus()));
        line.push(Span::raw(format!(" {what}  ")));
    }
    Line::from(line).render(keys, buf);
}

/// Where the terminal cursor goes while the filter or a prompt is edited (`None`
/// otherwise).
pub fn cursor(vm: &ScreenVm, area: Rect) -> Option<(u16, u16)> {
    if let Some(op) = &vm.operation
        && let Some(p) = &op.prompt
    {
        let panel = operation_area(op, area);
        let x = panel.x + 1 + (p.label.chars().count() + p.cursor) as u16;
        return Some((x.min(panel.right().saturating_sub(2)), panel.bottom().saturating_sub(3)));
    }
    let e = vm.footer.editing.as_ref()?;
    let x = area.x + (e.lead.chars().count() + e.cursor) as u16;
    Some((x, area.y + area.height.saturating_sub(1)))
}

/// Where the operator action's panel goes: centred, as tall as its lines.
fn operation_area(op: &OperationVm, area: Rect) -> Rect {
    let width = area.width.saturating_sub(4).min(116);
    let rows = op.lines.len() as u16 + u16::from(op.prompt.is_some()) + 1 + 2;
    let height = rows.min(area.height.saturating_sub(2)).max(3);
    Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    }
}

fn render_operation(op: &OperationVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let panel = operation_area(op, area);
    Clear.render(panel, buf);
    let border = if op.danger { theme.danger() } else { theme.focus() };
    let block = Block::default().borders(Borders::ALL).border_style(border).title(format!(" {} ", op.title));
    let inner = block.inner(panel);
    block.render(panel, buf);
    let prompt_rows = u16::from(op.prompt.is_some());
    let [text, prompt, keys] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(prompt_rows), Constraint::Length(1)]).areas(inner);
    let lines: Vec<Line> = op.lines.iter().map(|l| Line::from(spans(l, theme))).collect();
    Paragraph::new(Text::from(lines)).render(text, buf);
    if let Some(p) = &op.prompt {
        Line::from(vec![Span::styled(p.label.as_str(), theme.focus()), Span::raw(p.text.as_str())]).render(prompt, buf);
    }
    Line::styled(op.keys.as_str(), theme.tone(Tone::Muted)).render(keys, buf);
}

/// The help popup: one column when it fits the height, else the sections in two
/// columns side by side.
fn render_help(h: &HelpVm, theme: &Theme, area: Rect, buf: &mut Buffer) {
    fn section_lines<'a>((title, rows): &'a (String, Vec<(String, String)>), theme: &Theme) -> Vec<Line<'a>> {
        let mut lines = vec![Line::styled(title.as_str(), theme.heading())];
        lines.extend(rows.iter().map(|(keys, what)| {
            Line::from(vec![Span::styled(format!("  {keys:<16}"), theme.focus()), Span::raw(what.as_str())])
        }));
        lines
    }
    let sections: Vec<Vec<Line>> = h.sections.iter().map(|s| section_lines(s, theme)).collect();
    fn join<'a>(parts: &[Vec<Line<'a>>]) -> Vec<Line<'a>> {
        let mut out: Vec<Line> = Vec::new();
        for part in parts {
            if !out.is_empty() {
                out.push(Line::raw(""));
            }
            out.extend(part.iter().cloned());
        }
        out
    }
    let all = join(&sections);
    let room = area.height.saturating_sub(2) as usize;
    let columns: Vec<Vec<Line>> = if all.len() <= room || sections.len() < 2 {
        vec![all]
    } else {
        // Split where the two columns come out most even.
        let split = (1..sections.len())
            .min_by_key(|&i| join(&sections[..i]).len().max(join(&sections[i..]).len()))
            .unwrap_or(1);
        vec![join(&sections[..split]), join(&sections[split..])]
    };
    let column_width: u16 = 44;
    let width = (column_width * columns.len() as u16 + 2).min(area.width);
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0) as u16;
    let height = (tallest + 2).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    Clear.render(popup, buf);
    let block = Block::default().borders(Borders::ALL).title(" Keys ");
    let inner = block.inner(popup);
    block.render(popup, buf);
    let areas = Layout::horizontal(vec![Constraint::Ratio(1, columns.len() as u32); columns.len()]).split(inner);
    for (lines, at) in columns.into_iter().zip(areas.iter()) {
        Paragraph::new(Text::from(lines)).render(*at, buf);
    }
}
