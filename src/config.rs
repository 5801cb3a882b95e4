//! Configuration: the embedded defaults (`config/fleetdeck.toml`) < the user file at the
//! platform's config location < a file given with `--config`. Every file is checked on
//! its own, so an unknown key is reported with the file it is in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use serde::Deserialize;

pub const DEFAULTS: &str = include_str!("../config/fleetdeck.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub fleet: FleetConfig,
    pub engine: EngineConfig,
    pub probe: ProbeConfig,
    pub slo: SloConfig,
    pub ui: UiConfig,
    pub theme: BTreeMap<String, String>,
    pub keys: BTreeMap<String, Vec<String>>,
    pub log: LogConfig,
    pub sim: SimConfig,
    pub audit: AuditConfig,
    pub check: CheckConfig,
    pub wall: WallConfig,
    pub runbook: RunbookConfig,
    pub registration: RegistrationConfig,
    pub migration: MigrationConfig,
    pub rollback: RollbackConfig,
    pub notify: NotifyConfig,
    pub serve: ServeConfig,
}

/// `fleetdeck serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub bearer_token_file: PathBuf,
}

/// The rollback workflow and the triggers that suggest it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    #[serde(with = "humantime_serde")]
    pub confirm_for: Duration,
    pub triggers: TriggersConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersConfig {
    #[serde(with = "humantime_serde")]
    pub disruption_after: Duration,
    pub new_violations: u64,
    #[serde(with = "humantime_serde")]
    pub violations_for: Duration,
    pub latency_checks: u32,
    #[serde(with = "humantime_serde")]
    pub latency_interval: Duration,
    pub slow_revisions: u32,
}

/// Where notifications go (the rollback's "notify stakeholders").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub alertmanager: String,
    pub webhook: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// The migration runbook's fleet-wide settings (its steps are in the runbook file).
#[derive(Debug, Clone, Deserialize)]
pub struct MigrationConfig {
    /// Clusters that may not pass "test in staging first" before a staging run succeeded.
    pub production: Vec<String>,
    /// Clusters whose succeeded migration lets production ones through.
    pub staging: Vec<String>,
    /// API probes "validate connectivity" takes for its p95.
    pub probes: usize,
}

/// Guided workflows: the lock of a run and how waits read their conditions.
#[derive(Debug, Clone, Deserialize)]
pub struct RunbookConfig {
    #[serde(with = "humantime_serde")]
    pub lock_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
}

/// What registration creates on a spoke and how long its waits may take.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrationConfig {
    pub service_account: String,
    pub namespace: String,
    pub role: String,
    #[serde(with = "humantime_serde")]
    pub token_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub verify_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditConfig {
    /// The journal file; empty: `journal.jsonl` in the data directory.
    pub journal: PathBuf,
    /// Kubernetes Events kept on disk (`events.jsonl` in the data directory).
    pub events_kept: usize,
    /// Entries the audit pane keeps in memory; older ones are dropped and counted.
    pub max_entries: usize,
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
    /// Per context, audit log files to follow.
    #[serde(default)]
    pub files: BTreeMap<String, Vec<PathBuf>>,
    pub webhook: WebhookConfig,
}

/// `fleetdeck check`: how long it waits and how much it measures.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckConfig {
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub probes: usize,
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// `host:port`; empty: no receiver.
    pub listen: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FleetConfig {
    pub hub: String,
    pub spokes: Vec<String>,
    /// Globs of contexts fleetdeck never writes to, even in an operator session.
    pub read_only: Vec<String>,
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EngineConfig {
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long an exec credential plugin may take to answer.
    #[serde(with = "humantime_serde")]
    pub exec_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub coalesce: Duration,
    #[serde(with = "humantime_serde")]
    pub rediscover_every: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProbeConfig {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    #[serde(with = "humantime_serde")]
    pub availability_window: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SloConfig {
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Percent.
    pub availability: f64,
    /// Percent of probes over `probe.window` that may fail before an answering cluster is
    /// Degraded.
    pub error_rate: f64,
    /// Policy findings of this severity or worse make a cluster degraded: critical, high,
    /// medium, low or info.
    pub violation_severity: String,
    #[serde(with = "humantime_serde")]
    pub unreachable_after: Duration,
    #[serde(with = "humantime_serde")]
    pub propagation: Duration,
    #[serde(with = "humantime_serde")]
    pub propagation_window: Duration,
    #[serde(with = "humantime_serde")]
    pub backup_grace: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UiConfig {
    #[serde(with = "humantime_serde")]
    pub frame_budget: Duration,
    pub colors: String,
    pub ascii: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WallConfig {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

/// Theme roles a `[theme]` table may set.
pub const THEME_ROLES: &[&str] = &["ok", "warn", "crit", "stale", "focus", "danger", "muted", "accent"];

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    pub level: String,
    pub dir: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SimConfig {
    pub scenario: String,
    #[serde(with = "humantime_serde")]
    pub bookmark_interval: Duration,
    pub audit_max_bytes: u64,
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks one layer on top of the defaults: every key path it has that the schema does
/// not know, and type errors, are reported with `origin`.
fn check_layer(defaults: &toml::Table, layer: &toml::Table, origin: &str) -> Result<()> {
    let mut probe = defaults.clone();
    merge(&mut probe, layer.clone());
    let mut unknown = Vec::new();
    let parsed: std::result::Result<Config, _> =
        serde_ignored::deserialize(toml::Value::Table(probe), |path| unknown.push(path.to_string()));
    if !unknown.is_empty() {
        return Err(eyre!("{origin}: unknown configuration key{} {}", plural(&unknown), unknown.join(", ")));
    }
    let config = parsed.map_err(|e| eyre!("{origin}: {e}"))?;
    let bad = config.out_of_range();
    if !bad.is_empty() {
        return Err(eyre!("{origin}: {}", bad.join("; ")));
    }
    // Free-form tables: their keys are checked against what they may name.
    let names = |table: &str| -> Vec<String> {
        layer.get(table).and_then(toml::Value::as_table).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    };
    let bad_roles: Vec<String> = names("theme").into_iter().filter(|r| !THEME_ROLES.contains(&r.as_str())).collect();
    if !bad_roles.is_empty() {
        return Err(eyre!(
            "{origin}: unknown theme role{} {} (roles: {})",
            plural(&bad_roles),
            bad_roles.join(", "),
            THEME_ROLES.join(", ")
        ));
    }
    let bad_actions: Vec<String> =
        names("keys").into_iter().filter(|a| crate::action::Action::from_name(a).is_none()).collect();
    if !bad_actions.is_empty() {
        return Err(eyre!("{origin}: unknown key action{} keys.{}", plural(&bad_actions), bad_actions.join(", keys.")));
    }
    Ok(())
}

fn plural(v: &[String]) -> &'static str {
    if v.len() > 1 { "s" } else { "" }
}

/// Merges `over` into `base`, tables recursively.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn parse_layer(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse().wrap_err_with(|| format!("{origin} is not valid TOML"))
}

/// A duration setting's valid range, inclusive.
struct Span(&'static str, Duration, Duration, Duration);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Config {
    /// Every setting outside its valid range, as `key = value: why` (the defaults are
    /// within every range, so a layer checked on top of them is the one at fault).
    fn out_of_range(&self) -> Vec<String> {
        let hour = secs(3600);
        let (e, p, s, c) = (&self.engine, &self.probe, &self.slo, &self.check);
        let tr = &self.rollback.triggers;
        let spans = [
            Span("engine.connect_timeout", e.connect_timeout, ms(100), secs(600)),
            Span("engine.exec_timeout", e.exec_timeout, secs(1), secs(600)),
            Span("engine.coalesce", e.coalesce, Duration::ZERO, secs(10)),
            Span("engine.rediscover_every", e.rediscover_every, secs(1), 24 * hour),
            Span("probe.interval", p.interval, ms(100), hour),
            Span("probe.timeout", p.timeout, ms(10), secs(600)),
            Span("probe.window", p.window, p.interval, 24 * hour),
            Span("probe.availability_window", p.availability_window, p.interval, 30 * 24 * hour),
            Span("slo.latency", s.latency, ms(1), secs(600)),
            Span("slo.unreachable_after", s.unreachable_after, secs(1), 24 * hour),
            Span("slo.propagation", s.propagation, secs(1), 24 * hour),
            Span("slo.propagation_window", s.propagation_window, secs(60), 30 * 24 * hour),
            Span("slo.backup_grace", s.backup_grace, Duration::ZERO, 30 * 24 * hour),
            Span("ui.frame_budget", self.ui.frame_budget, ms(1), secs(1)),
            Span("wall.interval", self.wall.interval, secs(1), hour),
            Span("sim.bookmark_interval", self.sim.bookmark_interval, secs(1), hour),
            Span("audit.poll", self.audit.poll, ms(10), secs(60)),
            Span("check.timeout", c.timeout, secs(1), hour),
            Span("check.probe_interval", c.probe_interval, ms(10), secs(60)),
            Span("check.settle", c.settle, Duration::ZERO, c.timeout),
            Span("runbook.lock_ttl", self.runbook.lock_ttl, secs(10), 24 * hour),
            Span("runbook.poll", self.runbook.poll, ms(100), secs(60)),
            Span("registration.token_timeout", self.registration.token_timeout, secs(1), secs(600)),
            Span("registration.verify_timeout", self.registration.verify_timeout, secs(5), 24 * hour),
            Span("rollback.confirm_for", self.rollback.confirm_for, Duration::ZERO, 24 * hour),
            Span("rollback.triggers.disruption_after", tr.disruption_after, Duration::ZERO, 24 * hour),
            Span("rollback.triggers.violations_for", tr.violations_for, Duration::ZERO, 24 * hour),
            Span("rollback.triggers.latency_interval", tr.latency_interval, p.interval, hour),
            Span("notify.timeout", self.notify.timeout, ms(100), secs(120)),
        ];
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let mut bad: Vec<String> = spans
            .iter()
            .filter(|Span(_, v, lo, hi)| v < lo || v > hi)
            .map(|Span(key, v, lo, hi)| {
                format!("{key} = \"{}\" is out of range ({} to {})", show(*v), show(*lo), show(*hi))
            })
            .collect();
        let mut count = |key: &str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                bad.push(format!("{key} = {v} is out of range ({lo} to {hi})"));
            }
        };
        count("audit.events_kept", self.audit.events_kept as u64, 1, 10_000_000);
        count("audit.max_entries", self.audit.max_entries as u64, 1, 10_000_000);
        count("check.probes", c.probes as u64, 1, 1000);
        count("migration.probes", self.migration.probes as u64, 1, 1000);
        count("rollback.triggers.latency_checks", tr.latency_checks as u64, 1, 100);
        count("rollback.triggers.slow_revisions", tr.slow_revisions as u64, 1, 100);
        count("sim.audit_max_bytes", self.sim.audit_max_bytes, 4096, u64::MAX);
        if !(s.availability > 0.0 && s.availability <= 100.0) {
            bad.push(format!(
                "slo.availability = {} is out of range (a percentage above 0, at most 100)",
                s.availability
            ));
        }
        if !(s.error_rate >= 0.0 && s.error_rate < 100.0) {
            bad.push(format!("slo.error_rate = {} is out of range (a percentage, 0 to below 100)", s.error_rate));
        }
        if !["critical", "high", "medium", "low", "info"].contains(&s.violation_severity.as_str()) {
            bad.push(format!(
                "slo.violation_severity = {:?} is not one of critical, high, medium, low, info",
                s.violation_severity
            ));
        }
        if tr.latency_interval * tr.latency_checks > p.window {
            bad.push(format!(
                "rollback.triggers: latency_checks x latency_interval ({}) is longer than probe.window ({}), which keeps the probes they are judged by",
                humantime::format_duration(tr.latency_interval * tr.latency_checks),
                humantime::format_duration(p.window)
            ));
        }
        if self.serve.listen.parse::<std::net::SocketAddr>().is_err() {
            bad.push(format!("serve.listen = {:?} is not an address and port (127.0.0.1:9737)", self.serve.listen));
        }
        if self.serve.tls_cert.as_os_str().is_empty() != self.serve.tls_key.as_os_str().is_empty() {
            bad.push("serve.tls_cert and serve.tls_key go together: set both or neither".to_owned());
        }
        for (key, url) in [("notify.alertmanager", &self.notify.alertmanager), ("notify.webhook", &self.notify.webhook)]
        {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                bad.push(format!("{key} = {url:?} is not an http:// or https:// URL"));
            }
        }
        if !["auto", "truecolor", "24bit", "256", "16", "none"].contains(&self.ui.colors.as_str()) {
            bad.push(format!("ui.colors = {:?} is not one of auto, truecolor, 24bit, 256, 16, none", self.ui.colors));
        }
        bad
    }

    /// The journal file.
    pub fn journal_path(&self) -> PathBuf {
        if self.audit.journal.as_os_str().is_empty() { crate::paths::journal() } else { self.audit.journal.clone() }
    }

    /// Loads defaults < user file (if present) < `--config` file.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let user = crate::paths::user_config();
        Self::load_from(user.as_deref(), explicit)
    }

    pub fn load_from(user: Option<&Path>, explicit: Option<&Path>) -> Result<Self> {
        let defaults = parse_layer(DEFAULTS, "the embedded defaults")?;
        check_layer(&defaults, &toml::Table::new(), "the embedded defaults")?;
        let mut table = defaults.clone();
        let files = [(user.filter(|p| p.exists()), "the user config file"), (explicit, "the --config file")];
        for (path, what) in files {
            let Some(path) = path else { continue };
            let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading {what} {}", path.display()))?;
            let origin = path.display().to_string();
            let layer = parse_layer(&text, &origin)?;
            check_layer(&defaults, &layer, &origin)?;
            merge(&mut table, layer);
        }
        toml::Value::Table(table).try_into().wrap_err("invalid configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load() {
        let c = Config::load_from(None, None).unwrap();
        assert_eq!(c.log.level, "info");
        assert_eq!(c.sim.bookmark_interval, Duration::from_secs(60));
    }

    #[test]
    fn files_override_in_order_and_unknown_keys_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        let explicit = dir.path().join("explicit.toml");
        std::fs::write(&user, "[log]\nlevel = \"debug\"\n[sim]\nscenario = \"demo\"\n").unwrap();
        std::fs::write(&explicit, "[log]\nlevel = \"trace\"\n").unwrap();
        let c = Config::load_from(Some(&user), Some(&explicit)).unwrap();
        assert_eq!(c.log.level, "trace");
        assert_eq!(c.sim.scenario, "demo");

        std::fs::write(&explicit, "[log]\nlevl = \"trace\"\n[sim]\nspokes = 3\n").unwrap();
        let err = format!("{:?}", Config::load_from(Some(&user), Some(&explicit)).unwrap_err());
        assert!(err.contains("explicit.toml"), "{err}");
        assert!(err.contains("log.levl") && err.contains("sim.spokes"), "{err}");

        std::fs::write(&explicit, "[keys]\nquit = [\"x\"]\nfly = [\"f\"]\n").unwrap();
        let err = format!("{:?}", Config::load_from(None, Some(&explicit)).unwrap_err());
        assert!(err.contains("keys.fly"), "{err}");
        std::fs::write(&explicit, "[theme]\nsparkle = \"red\"\n").unwrap();
        let err = format!("{:?}", Config::load_from(None, Some(&explicit)).unwrap_err());
        assert!(err.contains("sparkle"), "{err}");

        for (text, key) in [
            ("[probe]\ninterval = \"0s\"\n", "probe.interval = \"0s\" is out of range"),
            ("[serve]\nlisten = \"everywhere\"\n", "serve.listen = \"everywhere\" is not an address and port"),
            ("[serve]\ntls_cert = \"c.pem\"\n", "serve.tls_cert and serve.tls_key go together"),
            ("[notify]\nwebhook = \"ftp://x\"\n", "notify.webhook = \"ftp://x\" is not an http:// or https:// URL"),
            (
                "[rollback.triggers]\nlatency_checks = 100\nlatency_interval = \"1m\"\n",
                "latency_checks x latency_interval (1h 40m) is longer than probe.window (5m)",
            ),
            ("[engine]\nrediscover_every = \"0s\"\n", "engine.rediscover_every"),
            ("[probe]\ntimeout = \"0s\"\n", "probe.timeout"),
            ("[probe]\ninterval = \"10m\"\nwindow = \"5m\"\n", "probe.window"),
            ("[slo]\navailability = 120.0\n", "slo.availability"),
            ("[check]\nprobes = 0\n", "check.probes"),
            ("[migration]\nprobes = 0\n", "migration.probes"),
            ("[ui]\ncolors = \"sepia\"\n", "ui.colors"),
        ] {
            std::fs::write(&explicit, text).unwrap();
            let err = format!("{:?}", Config::load_from(None, Some(&explicit)).unwrap_err());
            assert!(err.contains(key) && err.contains("explicit.toml"), "{text}: {err}");
        }
        std::fs::write(&explicit, "[probe]\ninterval = \"1s\"\ntimeout = \"500ms\"\n[engine]\ncoalesce = \"0s\"\n")
            .unwrap();
        assert!(Config::load_from(None, Some(&explicit)).is_ok(), "in range, zero where zero means none");

        std::fs::write(&explicit, "[log\n").unwrap();
        let err = format!("{:?}", Config::load_from(None, Some(&explicit)).unwrap_err());
        assert!(err.contains("not valid TOML"), "{err}");
    }
}
