//! Starting a session: the config turned into engine and model settings, the engine
//! started on the fleet's contexts, and the TUI run until it quits.

use color_eyre::eyre::{Result, WrapErr};
use jiff::Timestamp;
use std::time::Duration;

use std::path::{Path, PathBuf};

use crate::app::model::{Model, ModelSettings, Wall};
use crate::audit::feed::{AuditFeed, FeedSettings};
use crate::audit::follow::{FollowSpec, Format};
use crate::audit::webhook::WebhookSettings;
use crate::runtime::Runtime;
use std::sync::Arc;

use crate::cluster::runbook::{RunSettings, Runner};
use crate::cluster::write::{WriteAccess, Writer};
use crate::cluster::{ContextSpec, Engine, Settings};
use crate::config::Config;
use crate::fleet::cluster::Thresholds;
use crate::fleet::state::FleetSettings;
use crate::input::Keymap;
use crate::journal::Journal;
use crate::term::Tui;
use crate::ui::{Depth, Theme};

/// Where probes are measured from: this machine, named.
pub fn vantage() -> String {
    match hostname::get().ok().and_then(|h| h.into_string().ok()) {
        Some(name) => format!("{name} (where fleetdeck runs)"),
        None => "the machine fleetdeck runs on".to_owned(),
    }
}

pub fn engine_settings(config: &Config) -> Settings {
    Settings {
        connect_timeout: config.engine.connect_timeout,
        exec_timeout: config.engine.exec_timeout,
        probe_interval: config.probe.interval,
        probe_timeout: config.probe.timeout,
        coalesce: config.engine.coalesce,
        rediscover_every: config.engine.rediscover_every,
        ..Settings::default()
    }
}

pub fn trigger_settings(config: &Config) -> crate::fleet::trigger::TriggerSettings {
    let t = &config.rollback.triggers;
    crate::fleet::trigger::TriggerSettings {
        disruption_after: t.disruption_after,
        new_violations: t.new_violations,
        violations_for: t.violations_for,
        latency_checks: t.latency_checks,
        latency_interval: t.latency_interval,
        slow_revisions: t.slow_revisions,
    }
}

/// The model's settings; `writable` for an operator session.
pub fn model_settings(config: &Config, writable: bool) -> ModelSettings {
    ModelSettings {
        fleet: FleetSettings {
            latency_target: config.slo.latency,
            availability_target: config.slo.availability / 100.0,
            thresholds: Thresholds {
                unreachable_after: config.slo.unreachable_after,
                probe_interval: config.probe.interval,
                error_rate: config.slo.error_rate / 100.0,
            },
            propagation_target: config.slo.propagation,
            propagation_window: config.slo.propagation_window,
            backup_grace: config.slo.backup_grace,
            latency_window: config.probe.window,
            availability_window: config.probe.availability_window,
            mapping: config.fleet.mapping.clone(),
            violation_severity: crate::fleet::summary::Severity::parse(&config.slo.violation_severity),
            lock_ttl: config.runbook.lock_ttl,
            host: hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
            triggers: trigger_settings(config),
        },
        vantage: vantage(),
        writable,
        read_only_contexts: config.fleet.read_only.clone(),
        audit_cap: config.audit.max_entries,
    }
}

/// The theme of a session: the config's colours at the terminal's colour depth
/// (`NO_COLOR` set and non-empty turns them off), ASCII only with `ui.ascii`.
/// What only the terminal's layers can check of a configuration (key bindings, theme
/// colours), checked by every command so that `check` accepts no configuration the TUI
/// then rejects.
pub fn validate(config: &Config) -> Result<()> {
    Keymap::new(&config.keys, true)?;
    Keymap::wall(&config.keys)?;
    theme(config).map(drop)
}

pub fn theme(config: &Config) -> Result<Theme> {
    let depth = Depth::detect(&config.ui.colors, |name| std::env::var(name).ok())?;
    Ok(Theme::new(&config.theme, depth)?.with_ascii(config.ui.ascii))
}

/// The audit sources of a session: the journal, the Event store next to it, the audit
/// log files of the config and of `extra` (context, path), and the webhook.
pub fn feed_settings(config: &Config, extra: &[(String, PathBuf)]) -> FeedSettings {
    let journal = config.journal_path();
    let files = config
        .audit
        .files
        .iter()
        .flat_map(|(context, paths)| paths.iter().map(move |p| (context.clone(), p.clone())))
        .chain(extra.iter().cloned())
        .map(|(context, path)| FollowSpec { cluster: Arc::from(context.as_str()), path, format: Format::Audit })
        .collect();
    let hook = &config.audit.webhook;
    let tls = (!hook.tls_cert.as_os_str().is_empty() && !hook.tls_key.as_os_str().is_empty())
        .then(|| (hook.tls_cert.clone(), hook.tls_key.clone()));
    FeedSettings {
        events: Some(journal.with_file_name("events.jsonl")),
        journal,
        events_kept: config.audit.events_kept,
        files,
        poll: config.audit.poll,
        webhook: (!hook.listen.is_empty()).then(|| WebhookSettings { listen: hook.listen.clone(), tls }),
    }
}

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// Writes (previewed, confirmed, journaled) to the contexts not read-only by config.
    Operator,
    /// `--read-only`: no write client exists.
    ReadOnly,
    /// `--wall`: read-only, the kiosk layout, and no keys but pause, pages and quit.
    Wall,
}

/// The contexts an operator session may write to: all but those `fleet.read_only` names.
pub fn writable_contexts<'a>(contexts: &'a [ContextSpec], config: &Config) -> Vec<&'a ContextSpec> {
    contexts.iter().filter(|c| !config.fleet.read_only.iter().any(|g| crate::glob::glob_match(g, &c.name))).collect()
}

/// The write client of an operator session: the capability is granted here and only
/// here, and the client holds the credentials of the writable contexts only.
fn operator_writer(contexts: &[ContextSpec], config: &Config) -> Writer {
    let writable: Vec<ContextSpec> = writable_contexts(contexts, config).into_iter().cloned().collect();
    let journal = Journal::at(config.journal_path());
    Writer::new(WriteAccess::operator_session(), &writable, config.engine.connect_timeout, journal)
        .with_exec_timeout(config.engine.exec_timeout)
}

/// Files by name, with their text.
type NamedFiles = Vec<(String, String)>;

/// Embedded files (name, text), each replaced by a `.yaml` file of the same name in the
/// config directory's `subdir` (and new files added, in name order); the directory too.
fn with_config_files(embedded: &[(&str, &str)], subdir: &[&str]) -> Result<(NamedFiles, Option<PathBuf>)> {
    let mut files: NamedFiles = embedded.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    let Some(dir) =
        crate::paths::project_dirs().map(|d| subdir.iter().fold(d.config_dir().to_owned(), |p, s| p.join(s)))
    else {
        return Ok((files, None));
    };
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok((files, Some(dir))) };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).wrap_err_with(|| format!("reading {}", path.display()))?;
        match files.iter_mut().find(|(n, _)| *n == name) {
            Some(f) => f.1 = text,
            None => files.push((name, text)),
        }
    }
    Ok((files, Some(dir)))
}

/// The registration templates: the embedded ones, each replaced by a file of the same
/// name in the config directory's `templates/registration/` (and new files added).
pub fn registration_templates() -> Result<Vec<(String, String)>> {
    let (templates, dir) = with_config_files(crate::workflow::register::TEMPLATES, &["templates", "registration"])?;
    // A template that does not render is refused now, with its file, not at a run's plan.
    crate::workflow::register::render(&templates, "spoke", "environment").map_err(|e| {
        color_eyre::eyre::eyre!("{e} (in {})", dir.map(|d| d.display().to_string()).unwrap_or_default())
    })?;
    Ok(templates)
}

/// The migration runbook: the embedded one, or `runbooks/migration.toml` in the config
/// directory, refused now (with its file, step and key) when invalid.
pub fn migration_runbook() -> Result<crate::workflow::migrate::Runbook> {
    use crate::workflow::migrate::{RUNBOOK_FILE, Runbook};
    let path = crate::paths::project_dirs().map(|d| d.config_dir().join("runbooks").join(RUNBOOK_FILE));
    match path.filter(|p| p.exists()) {
        None => Ok(Runbook::shipped()),
        Some(path) => {
            let text = std::fs::read_to_string(&path).wrap_err_with(|| format!("reading {}", path.display()))?;
            Runbook::parse(&text, &path.display().to_string()).map_err(|e| color_eyre::eyre::eyre!(e))
        }
    }
}

/// The policy probes: the embedded ones, each replaced by (or added to with) a file of
/// the config directory's `runbooks/policy-probes/`, refused now when one is not a
/// manifest with a kind and a name.
pub fn policy_probes() -> Result<Vec<(String, String)>> {
    let (probes, dir) = with_config_files(crate::workflow::migrate::PROBES, &["runbooks", "policy-probes"])?;
    for (name, text) in &probes {
        let at = || dir.as_ref().map(|d| d.join(name).display().to_string()).unwrap_or_else(|| name.clone());
        let object: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| color_eyre::eyre::eyre!("{}: not a manifest: {e}", at()))?;
        if object.pointer("/kind").is_none() || object.pointer("/metadata/name").is_none() {
            return Err(color_eyre::eyre::eyre!("{}: a policy probe needs a kind and metadata.name", at()));
        }
    }
    Ok(probes)
}

/// How runs are carried out, from the config.
pub fn run_settings(
    config: &Config,
    audit_files: &[(String, PathBuf)],
    operational: Option<crate::cluster::runbook::Operational>,
) -> Result<RunSettings> {
    let r = &config.registration;
    let m = &config.migration;
    let audit_files = config
        .audit
        .files
        .iter()
        .flat_map(|(context, paths)| paths.iter().map(move |p| (context.clone(), p.clone())))
        .chain(audit_files.iter().cloned())
        .collect();
    Ok(RunSettings {
        migration: crate::cluster::runbook::MigrationSettings {
            runbook: migration_runbook()?,
            production: m.production.clone(),
            staging: m.staging.clone(),
            probes: m.probes,
            latency: config.slo.latency,
            propagation: config.slo.propagation,
            policy_probes: policy_probes()?,
            data_dir: config.journal_path().parent().map(Path::to_path_buf).unwrap_or_else(crate::paths::data_dir),
            audit_files,
            operational,
        },
        register: crate::workflow::register::Settings {
            service_account: r.service_account.clone(),
            namespace: r.namespace.clone(),
            role: r.role.clone(),
            token_timeout: r.token_timeout,
            verify_timeout: r.verify_timeout,
            templates: registration_templates()?,
        },
        rollback: crate::workflow::rollback::Settings {
            confirm_for: config.rollback.confirm_for,
            verify_timeout: r.verify_timeout,
            ..crate::workflow::rollback::Settings::default()
        },
        notify: crate::cluster::runbook::NotifySettings {
            alertmanager: config.notify.alertmanager.clone(),
            webhook: config.notify.webhook.clone(),
            timeout: config.notify.timeout,
        },
        lock_ttl: config.runbook.lock_ttl,
        poll: config.runbook.poll,
        ..RunSettings::default()
    })
}

/// Runs the TUI on the given contexts until the user quits or a signal ends it. Only an
/// operator session is given the capability to write. `audit_files` are followed
/// besides the config's; `operational` is how a migration asks for the fleet check's
/// verdict of a cluster (`check::operational`).
pub async fn run_tui(
    contexts: Vec<ContextSpec>,
    config: &Config,
    audit_files: &[(String, PathBuf)],
    session: Session,
    operational: Option<crate::cluster::runbook::Operational>,
) -> Result<()> {
    let writes = session == Session::Operator;
    // Check everything that can fail before the terminal is taken over.
    let keymap = match session {
        Session::Wall => Keymap::wall(&config.keys)?,
        _ => Keymap::new(&config.keys, writes)?,
    };
    let theme = theme(config)?;
    let mut model = Model::new(&contexts, model_settings(config, writes), Timestamp::now());
    if session == Session::Wall {
        model.ui.wall = Some(Wall::new(config.wall.interval, model.now));
    }
    let writer = writes.then(|| Arc::new(operator_writer(&contexts, config)));
    let runner = match &writer {
        Some(w) => Some(Arc::new(Runner::new(w.clone(), run_settings(config, audit_files, operational)?))),
        None => None,
    };
    // Writes an earlier session recorded the intent of but not the outcome: learn what
    // came of them and record it (the audit pane shows the outcomes as they land).
    let resolving = writer.clone().map(|writer| {
        tokio::spawn(async move {
            match writer.resolve_interrupted().await {
                Ok(found) if !found.is_empty() => tracing::info!(writes = found.len(), "interrupted writes resolved"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "interrupted writes could not be resolved"),
            }
        })
    });
    let (engine, events) = Engine::start(contexts, engine_settings(config));
    let (feed, records) = AuditFeed::start(feed_settings(config, audit_files));
    let runtime = Runtime {
        keymap,
        theme,
        frame_budget: config.ui.frame_budget,
        writer,
        store: feed.store.clone(),
        exports: crate::paths::data_dir().join("exports"),
        runner,
        driving: Default::default(),
    };
    let tui = Tui::enter()?;
    let result = runtime.run(tui, model, events, Some(records)).await;
    runtime.finish(Duration::from_secs(2)).await;
    feed.stop();
    if let Some(task) = resolving {
        task.abort();
    }
    engine.stop().await;
    result
}
