//! Around the panes: the header with the pane tabs and the clock, the footer with the
//! fleet summary and the keys that work here, the filter line, and the help screen, all
//! generated from the keymap.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::format::latency;
use super::table::{Cell, Tone, fit_pieces};
use crate::action::{Action, Pane};
use crate::app::model::Model;
use crate::derive::Derived;
use crate::fleet::ago;

/// The keys bound to each action, as shown to the user ("q", "ctrl-c").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHints(pub BTreeMap<Action, Vec<String>>);

impl KeyHints {
    pub fn keys(&self, action: Action) -> String {
        self.0.get(&action).map(|k| k.join("/")).unwrap_or_default()
    }

    /// The first key bound to an action.
    pub fn first(&self, action: Action) -> String {
        self.0.get(&action).and_then(|k| k.first()).cloned().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderVm {
    pub tabs: Vec<(String, bool)>,
    pub right: String,
    /// "READ-ONLY" in a session that cannot write: always shown.
    pub badge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterVm {
    pub status: Vec<Cell>,
    pub hints: Vec<(String, String)>,
    /// The line being edited (the filter, the command line, a run's prompt).
    pub editing: Option<Editing>,
}

/// A line being edited in the footer: what leads it, its text, the cursor column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editing {
    pub lead: String,
    pub text: String,
    pub cursor: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpVm {
    pub sections: Vec<(String, Vec<(String, String)>)>,
}

pub fn header(model: &Model, hints: &KeyHints, now: Timestamp) -> HeaderVm {
    let tabs = Pane::ALL
        .iter()
        .map(|p| {
            let key = hints.first(Action::Pane(*p));
            let label = if key.is_empty() { p.title().to_owned() } else { format!("{key} {}", p.title()) };
            (label, *p == model.ui.pane)
        })
        .collect();
    let badge = (!model.settings.writable).then(|| "READ-ONLY".to_owned());
    HeaderVm { tabs, right: now.strftime("%H:%M:%S UTC").to_string(), badge }
}

/// "7/8 live · p95 41 ms · 1 degraded · 1 behind sync target · 7 policy violations", the
/// most important parts that fit `width`.
pub fn summary(model: &Model, derived: &Derived, width: u16) -> Vec<Cell> {
    let (counts, fleet) = (&derived.counts, &derived.sync);
    let live = counts.live;
    let mut parts = vec![(
        0,
        vec![Cell::new(
            format!("{live}/{} live", counts.clusters),
            if live == counts.clusters { Tone::Ok } else { Tone::Normal },
        )],
    )];
    let target = model.fleet.settings.latency_target;
    if let Some(p95) = derived.latency.p95 {
        let tone = if p95 > target { Tone::Warn } else { Tone::Normal };
        parts.push((2, vec![Cell::new(format!("p95 {}", latency(p95)), tone)]));
    }
    let problems = [
        (counts.degraded, "degraded", Tone::Warn, 1),
        (counts.unreachable, "unreachable", Tone::Crit, 0),
        (counts.unauthorized, "unauthorized", Tone::Crit, 0),
        (counts.misconfigured, "misconfigured", Tone::Crit, 0),
        (counts.syncing, "syncing", Tone::Muted, 3),
        (model.fleet.hub_only().len(), "hub-only", Tone::Warn, 2),
        (fleet.alarms, "behind sync target", Tone::Crit, 1),
        (fleet.violations.max(0) as usize, "policy violations", Tone::Crit, 1),
    ];
    for (n, label, tone, priority) in problems {
        if n > 0 {
            parts.push((priority, vec![Cell::new(format!("{n} {label}"), tone)]));
        }
    }
    if let Some(warning) = write_warning(model, derived) {
        parts.insert(0, (0, vec![warning]));
    }
    fit_pieces(parts, width)
}

/// The red line of the firing rollback triggers, on every pane: the longest-firing one
/// in full, how many more, and in an operator session the key that starts the rollback.
pub fn trigger_line(model: &Model, derived: &Derived, hints: &KeyHints, width: u16) -> Option<Vec<Cell>> {
    let mut firing = derived.firing();
    let (id, first) = firing.next()?;
    let more = firing.count();
    let cluster = &model.fleet.clusters()[id].context;
    let more = if more > 0 { format!(" · {more} more") } else { String::new() };
    let key = hints.first(Action::Rollback);
    let hint = (model.settings.writable && !key.is_empty()).then(|| format!("  {key} roll back"));
    let room = (width as usize).saturating_sub(hint.as_ref().map_or(0, |h| h.chars().count()));
    let full = format!("{}{more}", crate::derive::report::trigger_line(cluster, first, model.now));
    let text = if full.chars().count() <= room {
        full
    } else {
        format!("rollback: {}{more}", first.short_line(cluster, model.now))
    };
    let mut cells = vec![Cell::new(crate::view::format::truncate(&text, room), Tone::Crit)];
    cells.extend(hint.map(|h| Cell::new(h, Tone::Accent)));
    Some(cells)
}

/// In a session that cannot write: a warning when the credentials could write anyway
/// (SelfSubjectAccessReview), so a read-only screen is known to rest on fleetdeck alone.
pub fn write_warning(model: &Model, derived: &Derived) -> Option<Cell> {
    if model.settings.writable {
        return None;
    }
    let n = derived.counts.could_write;
    (n > 0).then(|| Cell::new(format!("credentials could write on {n}"), Tone::Crit))
}

/// On the health and latency panes, the selected cluster's error when it has one:
/// `production-us-1: watch: connection refused (10s ago)`.
fn selected_cause(model: &Model, derived: &Derived) -> Option<Cell> {
    if !matches!(model.ui.pane, Pane::Health | Pane::Latency) || model.ui.detail.is_some() {
        return None;
    }
    let key =
        derived.selected(&model.fleet, model.ui.pane, model.ui.filter.text(), model.ui.selected.get(&model.ui.pane))?;
    let view = derived.cluster(key.cluster()?)?;
    let error = view.state.error()?;
    let context = &model.fleet.clusters()[view.id].context;
    let ago = super::format::age(crate::fleet::ago(model.now, error.at));
    Some(Cell::new(format!("{context}: {} ({ago} ago)", error.message), Tone::Crit))
}

pub fn footer(model: &Model, derived: &Derived, hints: &KeyHints, width: u16) -> FooterVm {
    let now = model.now;
    // A running (or just finished) operator action, or a recent notice, comes first.
    let notice = model.ui.notice.as_ref().filter(|(_, at)| ago(now, *at) < Duration::from_secs(10));
    let take_over = |p: &crate::app::runs::RunPrompt| match p {
        crate::app::runs::RunPrompt::TakeOver { cluster, .. } => {
            format!("type {cluster} to take the run over and go on from where it stopped (Esc: no)")
        }
        crate::app::runs::RunPrompt::Override { step } => {
            format!("why go past \"{step}\"? the reason is recorded in the run and its report (Esc: no)")
        }
    };
    let question =
        crate::app::runs::asks(model).map(|(_, q)| q).or_else(|| model.ui.run_prompt.as_ref().map(take_over));
    let mut status = match (super::operation::status(model, now), notice, selected_cause(model, derived)) {
        _ if question.is_some() => vec![Cell::new(question.unwrap_or_default(), Tone::Warn)],
        (Some(op), _, _) => vec![op],
        (None, Some((text, _)), _) => vec![Cell::new(text.clone(), Tone::Warn)],
        // The selected cluster's cause in full, where its row has room for a word only.
        (None, None, Some(cause)) => vec![cause],
        (None, None, None) => summary(model, derived, width),
    };
    let filter = model.ui.filter.text();
    if !filter.is_empty() && !model.ui.filter.editing {
        status.push(Cell::muted(" · "));
        status.push(Cell::new(format!("filter \"{filter}\""), Tone::Accent));
    }
    let hint = |a: Action, what: &str| (hints.keys(a), what.to_owned());
    let moves = (format!("{}/{}", hints.first(Action::Down), hints.first(Action::Up)), "move".to_owned());
    let panes = (
        format!(
            "{}/{}-{}",
            hints.first(Action::NextPane),
            hints.first(Action::Pane(Pane::Health)),
            hints.first(Action::Pane(Pane::Runs))
        ),
        "panes".to_owned(),
    );
    // Retry and override are offered while the run this session drives holds at a
    // failed step, and only then.
    let held = crate::app::runs::driven(model).filter(|r| r.held());
    let overridable = held.and_then(|r| r.step()).is_some_and(|s| s.overridable);
    let operator = operator_hints(hints, model.ui.pane, |a| match a {
        Action::RetryStep => held.is_some(),
        Action::OverrideStep => overridable,
        _ => true,
    });
    // (priority, hint): what fits the width is kept, most important first.
    let mut line: Vec<(u8, (String, String))> = if model.ui.filter.editing {
        vec![(0, ("enter".to_owned(), "keep filter".to_owned())), (0, ("esc".to_owned(), "clear".to_owned()))]
    } else if model.ui.help {
        vec![(0, hint(Action::Back, "close help")), (0, hint(Action::Quit, "quit"))]
    } else if model.ui.command.is_some() {
        let s = |k: &str, w: &str| (0, (k.to_owned(), w.to_owned()));
        vec![s("enter", "run"), s("tab", "complete"), s("esc", "close")]
    } else if crate::app::runs::prompting(model) {
        let cancel = if model.ui.run_prompt.is_some() { "cancel" } else { "abort the run" };
        vec![(0, ("enter".to_owned(), "confirm".to_owned())), (0, ("esc".to_owned(), cancel.to_owned()))]
    } else if crate::app::operate::prompting(model) {
        vec![(0, ("enter".to_owned(), "confirm".to_owned())), (0, ("esc".to_owned(), "cancel".to_owned()))]
    } else if model.ui.operation_open {
        vec![(0, hint(Action::Back, "close")), (0, ("ctrl-c".to_owned(), "quit".to_owned()))]
    } else if model.ui.detail.is_some() {
        let what = if model.ui.pane == Pane::Backups { "select backup" } else { "scroll" };
        vec![(1, hint(Action::Down, what)), (0, hint(Action::Back, "back"))]
    } else {
        vec![(1, moves), (1, hint(Action::Open, "open")), (2, hint(Action::Filter, "filter")), (2, panes)]
    };
    let typing = model.ui.command.is_some() || crate::app::runs::prompting(model);
    if !model.ui.filter.editing && !model.ui.help && !model.ui.operation_open && !typing {
        line.extend(operator.into_iter().map(|h| (0, h)));
        if model.ui.pane == Pane::Audit && model.ui.detail.is_none() {
            line.extend([
                (1, hint(Action::Follow, "follow")),
                (2, hint(Action::AllRequests, "all requests")),
                (1, hint(Action::Export, "export")),
            ]);
        }
        line.extend([(1, hint(Action::Help, "help")), (0, hint(Action::Quit, "quit"))]);
    }
    let hints_line = fit_hints(line, width);
    let edited = |lead: &str, input: &tui_input::Input| Editing {
        lead: lead.to_owned(),
        text: input.value().to_owned(),
        cursor: input.visual_cursor(),
    };
    let editing = if model.ui.filter.editing {
        Some(edited("/", &model.ui.filter.input))
    } else if let Some(line) = &model.ui.command {
        Some(edited(":", line))
    } else if crate::app::runs::prompting(model) {
        Some(edited("› ", &model.ui.prompt))
    } else {
        None
    };
    FooterVm { status, hints: hints_line, editing }
}

/// The hints that fit `width` (as the footer draws them: "key what  "), the most
/// important first, in their given order.
fn fit_hints(hints: Vec<(u8, (String, String))>, width: u16) -> Vec<(String, String)> {
    let len = |(k, w): &(String, String)| k.chars().count() + w.chars().count() + 3;
    let mut order: Vec<usize> = (0..hints.len()).collect();
    order.sort_by_key(|&i| hints[i].0);
    let mut kept = vec![false; hints.len()];
    let mut used = 0;
    for i in order {
        if used + len(&hints[i].1) <= width as usize {
            used += len(&hints[i].1);
            kept[i] = true;
        }
    }
    hints.into_iter().zip(kept).filter(|(_, k)| *k).map(|((_, h), _)| h).collect()
}

/// The operator actions' keys of a pane, when the session has them.
/// The pane's operator actions with keys, those `offered` now.
fn operator_hints(hints: &KeyHints, pane: Pane, offered: impl Fn(Action) -> bool) -> Vec<(String, String)> {
    Action::operator(pane)
        .iter()
        .copied()
        .filter(|a| offered(*a))
        .filter(|a| !hints.keys(*a).is_empty())
        .map(|a| (hints.keys(a), a.hint().to_owned()))
        .collect()
}

/// The keys: those that work anywhere, then the current pane's own (an operator
/// session's actions, the audit pane's follow and export), so it fits 80x24.
pub fn help(hints: &KeyHints, pane: Pane) -> HelpVm {
    let row = |a: Action| (hints.keys(a), a.description().to_owned());
    let section =
        |title: &str, actions: &[Action]| (title.to_owned(), actions.iter().map(|a| row(*a)).collect::<Vec<_>>());
    let mut sections = vec![
        section("Anywhere", &[Action::Quit, Action::Help, Action::NextPane, Action::PrevPane]),
        section(
            "Panes",
            &[
                Action::Pane(Pane::Health),
                Action::Pane(Pane::Latency),
                Action::Pane(Pane::Propagation),
                Action::Pane(Pane::Backups),
                Action::Pane(Pane::Audit),
                Action::Pane(Pane::Runs),
            ],
        ),
        section(
            "Rows",
            &[
                Action::Down,
                Action::Up,
                Action::PageDown,
                Action::PageUp,
                Action::Top,
                Action::Bottom,
                Action::Open,
                Action::Filter,
                Action::Back,
                Action::Copy,
                Action::CopyCommand,
            ],
        ),
    ];
    // Only a session that can write has operator actions (and so names them).
    if !hints.keys(Action::Command).is_empty() {
        sections[0].1.push(row(Action::Command));
    }
    if !operator_hints(hints, pane, |_| true).is_empty() {
        sections.push(section(&format!("{} pane (operator)", pane.title()), Action::operator(pane)));
    }
    if pane == Pane::Audit {
        let (title, mut rows) = section("Audit pane", &[Action::Follow, Action::AllRequests, Action::Export]);
        rows.push((hints.keys(Action::Filter), "cluster:GLOB source:journal|".to_owned()));
        rows.push((String::new(), "event|audit user: verb: resource:".to_owned()));
        rows.push((String::new(), "and words, all must match".to_owned()));
        sections.push((title, rows));
    }
    HelpVm { sections }
}
