//! The loop that owns the model: keys first (a biased select), then engine events in
//! batches, the 1 Hz tick, and a redraw when something changed, at most once per frame
//! budget (keys redraw at once).

use std::time::Duration;

use color_eyre::eyre::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::model::Model;
use super::msg::{Effect, Msg};
use super::update::update;
use crate::cluster::EngineEvent;
use crate::input::{Keymap, messages};
use crate::term::Tui;
use crate::ui::{Theme, draw};
use crate::view::ViewCache;

/// Engine events applied per wake-up before keys get another look.
const BATCH: usize = 512;

pub struct Runtime {
    pub keymap: Keymap,
    pub theme: Theme,
    pub frame_budget: Duration,
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

impl Runtime {
    pub async fn run(&self, mut tui: Tui, mut model: Model, mut engine: Receiver<EngineEvent>) -> Result<()> {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut cache = ViewCache::default();
        let mut dirty = true;
        let mut last_draw = Instant::now() - self.frame_budget;
        let mut engine_open = true;
        let stop = termination();
        tokio::pin!(stop);
        let size = tui.terminal.size()?;
        update(&mut model, Msg::Viewport(size.width, size.height));
        loop {
            let mut key_pressed = false;
            let draw_at = last_draw + self.frame_budget;
            tokio::select! {
                biased;
                event = keys.next() => match event {
                    Some(Ok(event)) => {
                        if let Event::Resize(w, h) = event {
                            update(&mut model, Msg::Viewport(w, h));
                        }
                        for msg in messages(&event, &self.keymap, model.ui.filter.editing) {
                            if update(&mut model, msg).contains(&Effect::Quit) {
                                return Ok(());
                            }
                        }
                        key_pressed = matches!(event, Event::Key(_));
                        dirty = true;
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
                _ = &mut stop => return Ok(()),
                event = engine.recv(), if engine_open => match event {
                    Some(event) => {
                        update(&mut model, Msg::Engine(event));
                        for _ in 0..BATCH {
                            match engine.try_recv() {
                                Ok(event) => {
                                    update(&mut model, Msg::Engine(event));
                                }
                                Err(_) => break,
                            }
                        }
                        dirty = true;
                    }
                    None => engine_open = false,
                },
                _ = tick.tick() => {
                    update(&mut model, Msg::Tick(Timestamp::now()));
                    dirty = true;
                }
                _ = tokio::time::sleep_until(draw_at), if dirty => {}
            }
            let now = Instant::now();
            if dirty && (key_pressed || now >= last_draw + self.frame_budget) {
                let size = tui.terminal.size()?;
                let screen = cache.get(&model, self.keymap.hints(), Timestamp::now(), size.width, size.height);
                tui.draw(|frame| draw(frame, screen, &self.theme))?;
                last_draw = now;
                dirty = false;
            }
        }
    }
}
