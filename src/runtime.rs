//! The loop that owns the model: keys first (a biased select), then engine events in
//! batches, the 1 Hz tick, and a redraw when something changed: keys at once, changes
//! one can see (a state, a watched object) within the frame budget, figures that only
//! moved (a probe like the one before it) with the next second's frame, all together.

use std::time::Duration;

use color_eyre::eyre::Result;
use crossterm::event::Event;
use jiff::Timestamp;
use std::sync::Arc;
use tokio::sync::mpsc::{self, Receiver};
use tokio::time::Instant;

use crate::app::model::Model;
use crate::app::msg::{Effect, Msg};
use crate::app::runs::RunReport;
use crate::app::update::update;
use crate::audit::feed::Feed;
use crate::audit::store::EventStore;
use crate::cluster::EngineEvent;
use crate::cluster::runbook::{Runner, Update};
use crate::cluster::write::Writer;
use crate::fleet::run::Run;
use crate::input::{Keymap, Mode, messages};
use crate::term::Tui;
use crate::ui::{Theme, draw};
use crate::workflow::runbook::Event as RunEvent;
use std::path::PathBuf;

/// Engine events applied per wake-up before keys get another look.
const BATCH: usize = 512;

pub struct Runtime {
    pub keymap: Keymap,
    pub theme: Theme,
    pub frame_budget: Duration,
    /// The write client: present in an operator session only.
    pub writer: Option<Arc<Writer>>,
    /// Where newly seen Kubernetes Events are kept.
    pub store: Option<EventStore>,
    /// Where audit exports are written.
    pub exports: PathBuf,
    /// The runner of guided workflows: present in an operator session only.
    pub runner: Option<Arc<Runner>>,
    /// The run this session drives: where the operator's answers go, and the task that
    /// reports it.
    pub driving: Arc<std::sync::Mutex<Option<Driving>>>,
}

/// The run a session drives.
pub struct Driving {
    input: mpsc::Sender<RunEvent>,
    task: tokio::task::JoinHandle<()>,
}

type Slot = Arc<std::sync::Mutex<Option<Driving>>>;

/// Drives a run on the runner and passes its reports to the model.
fn drive(runner: Arc<Runner>, slot: Slot, run: Run, rv: String, first: RunEvent, results: mpsc::Sender<Msg>) {
    let (input, rx) = mpsc::channel(8);
    let (out, mut updates) = mpsc::channel(32);
    let driver = tokio::spawn(runner.drive(run, rv, first, rx, out));
    let task = tokio::spawn(async move {
        while let Some(update) = updates.recv().await {
            let report = match update {
                Update::Run(r) => RunReport::Run(r),
                Update::Refused(why) => RunReport::Refused(why),
                Update::Lost(why) => RunReport::Lost(why),
                Update::Ended(r) => RunReport::Ended(r),
            };
            if results.send(Msg::Run(report)).await.is_err() {
                break;
            }
        }
        let _ = driver.await;
    });
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(Driving { input, task });
    }
}

/// Carries out an effect that needs I/O, off the loop; an answer comes back as a
/// message. Effects a session cannot carry out are answered with why.
fn spawn_effect(runtime: &Runtime, effect: Effect, results: mpsc::Sender<Msg>) {
    const READ_ONLY: &str = "this session cannot write";
    let writer = runtime.writer.clone();
    match effect {
        Effect::Quit => {}
        Effect::Copy(text) => {
            // The terminal is stdout; the loop draws between effects, never during one.
            let mut out = std::io::stdout();
            let copied = crossterm::execute!(out, crossterm::clipboard::CopyToClipboard::to_clipboard_from(text));
            if let Err(e) = copied {
                let _ = results.try_send(Msg::Notice(format!("the copy failed: {e}")));
            }
        }
        Effect::KeepEvents(records) => {
            if let Some(store) = &runtime.store {
                store.keep(records);
            }
        }
        Effect::Export(records) => {
            let dir = runtime.exports.clone();
            tokio::task::spawn_blocking(move || {
                let text = match crate::audit::export(&dir, &records, Timestamp::now()) {
                    Ok(path) => format!("exported {} audit records to {}", records.len(), path.display()),
                    Err(e) => format!("the export failed: {e} ({})", dir.display()),
                };
                let _ = results.blocking_send(Msg::Notice(text));
            });
        }
        Effect::Preview { id, plan } => {
            tokio::spawn(async move {
                let result = match &writer {
                    Some(w) => w.preview(&plan).await,
                    None => Err(READ_ONLY.to_owned()),
                };
                let _ = results.send(Msg::Previewed { id, result }).await;
            });
        }
        Effect::StartRun { workflow, cluster, context, facts } => {
            let (Some(runner), slot) = (runtime.runner.clone(), runtime.driving.clone()) else {
                let _ = results.try_send(Msg::Run(RunReport::Blocked(READ_ONLY.to_owned())));
                return;
            };
            tokio::spawn(async move {
                match runner.start(workflow, &cluster, &context, facts).await {
                    Ok((run, rv)) => drive(runner, slot, run, rv, RunEvent::Begin, results),
                    Err(blocked) => _ = results.send(Msg::Run(RunReport::Blocked(blocked.describe()))).await,
                }
            });
        }
        Effect::TakeRun { id, first } => {
            let (Some(runner), slot) = (runtime.runner.clone(), runtime.driving.clone()) else {
                let _ = results.try_send(Msg::Run(RunReport::Blocked(READ_ONLY.to_owned())));
                return;
            };
            tokio::spawn(async move {
                match runner.take(&id).await {
                    Ok((run, rv)) => drive(runner, slot, run, rv, first, results),
                    Err(blocked) => _ = results.send(Msg::Run(RunReport::Blocked(blocked.describe()))).await,
                }
            });
        }
        Effect::RunInput(event) => {
            let sent = runtime.driving.lock().ok().and_then(|d| d.as_ref().map(|d| d.input.try_send(event).is_ok()));
            if sent != Some(true) {
                let _ = results.try_send(Msg::Notice("this session drives no run".to_owned()));
            }
        }
        Effect::PostTrigger { namespace, name, cluster, reason, message } => {
            let Some(writer) = writer else { return };
            tokio::spawn(async move {
                let involved = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "name": namespace});
                if let Err(e) = writer.post_warning(&namespace, &name, involved, &reason, &message).await {
                    tracing::warn!(cluster, error = %e, "the rollback trigger could not be posted on the hub");
                }
            });
        }
        Effect::Execute { id, confirmed } => {
            tokio::spawn(async move {
                let result = match &writer {
                    Some(w) => w.execute(confirmed).await,
                    None => Err(READ_ONLY.to_owned()),
                };
                let _ = results.send(Msg::Executed { id, result }).await;
            });
        }
    }
}

/// Resolves when a signal asks the process to end (SIGTERM, SIGHUP, SIGINT).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut streams = Vec::new();
        for kind in [SignalKind::terminate(), SignalKind::hangup(), SignalKind::interrupt()] {
            if let Ok(s) = signal(kind) {
                streams.push(s);
            }
        }
        if streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = streams.iter_mut().map(|s| Box::pin(async move { s.recv().await }));
        futures::future::select_all(waits).await;
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How soon a change must reach the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    /// Figures that moved (a probe like the one before it, audit records for a pane not
    /// shown): drawn with the next second's frame, all together.
    Figures,
    /// Something to see: within the frame budget.
    Soon,
    /// A key, or the second's frame: at once.
    Now,
}

/// How soon an engine event must be drawn: a probe that only moves a cluster's latency
/// figures waits for the next second's frame; anything that can change a state waits for
/// no more than the frame budget.
fn urgency_of(model: &Model, event: &EngineEvent) -> Urgency {
    match event {
        EngineEvent::Probe { cluster, sample } => {
            let last = model.fleet.cluster(*cluster).and_then(|c| c.probes.last_counted());
            match last {
                Some(last) if last.outcome.is_ok() == sample.outcome.is_ok() => Urgency::Figures,
                _ => Urgency::Soon,
            }
        }
        _ => Urgency::Soon,
    }
}

/// The terminal's events, read on a thread of their own and passed on a channel.
/// crossterm's `EventStream` looks for input on every poll, under the lock its own
/// waiting thread holds, so a loop woken 200 times a second by probes (1,001 clusters)
/// paid a contended lock and a `sched_yield` for each wake-up (about a point of its 6 %
/// idle CPU).
fn terminal_events() -> std::io::Result<Receiver<std::io::Result<Event>>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new().name("fleetdeck-keys".into()).spawn(move || {
        loop {
            let event = crossterm::event::read();
            let failed = event.is_err();
            if tx.blocking_send(event).is_err() || failed {
                return;
            }
        }
    })?;
    Ok(rx)
}

/// Whether audit records show now: on the audit pane, or the wall's audit page.
fn audit_shown(model: &Model) -> bool {
    match &model.ui.wall {
        Some(wall) => wall.page == crate::action::Pane::Audit,
        None => model.ui.pane == crate::action::Pane::Audit,
    }
}

impl Runtime {
    /// Stops driving the session's run, if any: the runner releases its lock (so the run
    /// reads as interrupted at once elsewhere) within `limit`.
    pub async fn finish(&self, limit: Duration) {
        let driving = self.driving.lock().ok().and_then(|mut d| d.take());
        if let Some(Driving { input, task }) = driving {
            drop(input);
            let _ = tokio::time::timeout(limit, task).await;
        }
    }

    pub async fn run(
        &self,
        mut tui: Tui,
        mut model: Model,
        mut engine: Receiver<EngineEvent>,
        mut feed: Option<Receiver<Feed>>,
    ) -> Result<()> {
        let mut keys = terminal_events()?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // What waits to be drawn, and how soon.
        let mut dirty: Option<Urgency> = Some(Urgency::Now);
        let mut last_draw = Instant::now() - self.frame_budget;
        // What the loop did, logged every minute at debug level.
        let (mut frames, mut ticks) = (0u64, 0u64);
        let mut engine_open = true;
        let (results_tx, mut results) = mpsc::channel::<Msg>(64);
        // Applies a message and carries out its effects; true when it asks to quit.
        let apply = |model: &mut Model, msg: Msg| -> bool {
            let mut quit = false;
            for effect in update(model, msg) {
                match effect {
                    Effect::Quit => quit = true,
                    other => spawn_effect(self, other, results_tx.clone()),
                }
            }
            quit
        };
        let stop = termination();
        tokio::pin!(stop);
        let size = tui.terminal.size()?;
        update(&mut model, Msg::Page(crate::view::table_rows(size.height, 0)));
        loop {
            let soon = dirty.is_some_and(|u| u >= Urgency::Soon);
            let draw_at = last_draw + self.frame_budget;
            let mut urgency = None;
            tokio::select! {
                biased;
                event = keys.recv() => match event {
                    Some(Ok(event)) => {
                        if let Event::Resize(_, h) = event {
                            update(&mut model, Msg::Page(crate::view::table_rows(h, 0)));
                        }
                        for msg in messages(&event, &self.keymap, Mode::of(&model)) {
                            if apply(&mut model, msg) {
                                return Ok(());
                            }
                        }
                        urgency = Some(if matches!(event, Event::Key(_)) { Urgency::Now } else { Urgency::Soon });
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
                _ = &mut stop => return Ok(()),
                Some(msg) = results.recv() => {
                    apply(&mut model, msg);
                    urgency = Some(Urgency::Soon);
                }
                event = engine.recv(), if engine_open => match event {
                    Some(event) => {
                        let mut most = urgency_of(&model, &event);
                        apply(&mut model, Msg::Engine(event));
                        for _ in 0..BATCH {
                            match engine.try_recv() {
                                Ok(event) => {
                                    most = most.max(urgency_of(&model, &event));
                                    apply(&mut model, Msg::Engine(event));
                                }
                                Err(_) => break,
                            }
                        }
                        urgency = Some(most);
                    }
                    None => engine_open = false,
                },
                // One batch of audit records per wake-up: keys and engine events get
                // their turn between batches of a large file.
                Some(batch) = async { match feed.as_mut() { Some(f) => f.recv().await, None => std::future::pending().await } } => {
                    apply(&mut model, Msg::Audit(batch));
                    urgency = Some(if audit_shown(&model) { Urgency::Soon } else { Urgency::Figures });
                }
                // The clock and every figure that moved: one frame a second.
                _ = tick.tick() => {
                    update(&mut model, Msg::Tick(Timestamp::now()));
                    urgency = Some(Urgency::Now);
                    ticks += 1;
                    if ticks.is_multiple_of(60) {
                        let (derivations, clusters) = model.derivations();
                        tracing::debug!(frames, derivations, clusters, "the last minutes' work");
                    }
                }
                _ = tokio::time::sleep_until(draw_at), if soon => {}
            }
            dirty = dirty.max(urgency);
            let now = Instant::now();
            let due = match dirty {
                Some(Urgency::Now) => true,
                Some(Urgency::Soon) => now >= last_draw + self.frame_budget,
                Some(Urgency::Figures) | None => false,
            };
            if due {
                let size = tui.terminal.size()?;
                let derived = model.derived();
                let screen = crate::view::screen(&model, &derived, self.keymap.hints(), size.width, size.height);
                tui.draw(|frame| draw(frame, &screen, &self.theme))?;
                frames += 1;
                last_draw = now;
                dirty = None;
            }
        }
    }
}
