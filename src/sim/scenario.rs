//! Scenario files (`assets/scenarios/*.toml`): the shape of a simulated fleet, how fast
//! it lives, and the faults it suffers when. Every field has a default, so an empty
//! file is the default fleet.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use rand::Rng;
use serde::{Deserialize, Deserializer};

use super::fault::{FaultState, NoHealth, OutageMode};
pub use crate::glob::glob_match;

/// A duration range "2s..8s" (or a single duration); a value is drawn uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub min: Duration,
    pub max: Duration,
}

impl Span {
    pub const fn fixed(d: Duration) -> Self {
        Self { min: d, max: d }
    }

    pub const fn secs(min: u64, max: u64) -> Self {
        Self { min: Duration::from_secs(min), max: Duration::from_secs(max) }
    }

    pub fn sample(&self) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let ms = rand::rng().random_range(self.min.as_millis() as u64..=self.max.as_millis() as u64);
        Duration::from_millis(ms)
    }

    /// A value for `key` (a spoke): each key has its own place in the range and varies
    /// around it by a tenth of the range, so a spoke is consistently fast or slow, as
    /// real clusters are.
    pub fn sample_for(&self, key: &str) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let spread = (self.max - self.min).as_secs_f64();
        // FNV-1a: stable across runs and platforms.
        let hash =
            key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let place = (hash % 10_000) as f64 / 10_000.0;
        let jitter = rand::rng().random_range(-0.1..=0.1);
        let at = (place + jitter).clamp(0.0, 1.0);
        self.min + Duration::from_secs_f64(spread * at)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let parse = |t: &str| humantime::parse_duration(t.trim()).wrap_err_with(|| format!("invalid duration {t:?}"));
        match text.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (parse(a)?, parse(b)?);
                if max < min {
                    return Err(eyre!("range {text:?} ends before it starts"));
                }
                Ok(Self { min, max })
            }
            None => Ok(Self::fixed(parse(text)?)),
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

pub fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, name))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetShape {
    /// Registered spokes (when `--spokes` is not given).
    pub spokes: usize,
    /// Clusters in the kubeconfig that the hub does not know (registration candidates).
    pub candidates: usize,
    /// The candidates' names, in order (their first word is their environment); those
    /// beyond the list are `edge-<region>-<n>`.
    pub candidate_names: Vec<String>,
    /// Mean time between a node of a cluster going NotReady (for a while).
    #[serde(deserialize_with = "opt_duration")]
    pub node_flap_every: Option<Duration>,
    /// How long a flapping node stays NotReady.
    pub node_flap_for: Span,
    /// Mean time between routine events (pulls, scaling, ...) on a cluster.
    #[serde(deserialize_with = "opt_duration")]
    pub events_every: Option<Duration>,
    /// Events older than this are deleted (the API server's event TTL).
    #[serde(deserialize_with = "duration")]
    pub event_ttl: Duration,
}

impl Default for FleetShape {
    fn default() -> Self {
        Self {
            spokes: 4,
            candidates: 0,
            candidate_names: Vec::new(),
            node_flap_every: Some(Duration::from_secs(600)),
            node_flap_for: Span::secs(30, 90),
            events_every: Some(Duration::from_secs(45)),
            event_ttl: Duration::from_secs(3600),
        }
    }
}

/// A Kustomization failure a spoke suffers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxFailure {
    /// Spoke name or glob.
    pub spoke: String,
    /// `HealthCheckFailed`, `ReconciliationFailed`, `BuildFailed`, ...
    pub reason: String,
    /// Which of the spoke's Kustomizations fail ("policies", "config"); all when empty.
    #[serde(default)]
    pub kustomization: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FluxShape {
    /// How often the hub's sources move to a new revision.
    #[serde(deserialize_with = "opt_duration")]
    pub revision_every: Option<Duration>,
    /// How long a spoke takes to apply a new revision.
    pub reconcile_delay: Span,
    /// How long a failed Kustomization waits before it tries again (its retryInterval).
    #[serde(deserialize_with = "duration")]
    pub retry_interval: Duration,
    /// Spokes (globs) that take `slow_delay` instead: slower than the 30 s target.
    pub slow: Vec<String>,
    pub slow_delay: Span,
    /// Spokes whose Kustomizations fail.
    pub failing: Vec<FluxFailure>,
    /// Spokes (globs) whose Kustomizations are suspended from the start.
    pub suspended: Vec<String>,
    /// Spokes (globs) registered by hand: their kubeconfig Secret lacks fleetdeck's
    /// identity annotations, so joining them to a context falls back to names and URLs.
    pub unannotated: Vec<String>,
    /// A bad revision: the `fleet-policies` revision published this long after the start
    /// breaks the spokes it reaches (those matching `bad_on`, all when empty): their
    /// application Deployments lose their ready replicas (a Velero restore puts them
    /// back), their policy reports gain violations and their API answers `bad_latency`
    /// slower until a good revision is applied. The revision after it is good again.
    #[serde(deserialize_with = "opt_duration")]
    pub bad_revision_after: Option<Duration>,
    pub bad_on: Vec<String>,
    #[serde(deserialize_with = "duration")]
    pub bad_latency: Duration,
}

impl Default for FluxShape {
    fn default() -> Self {
        Self {
            revision_every: Some(Duration::from_secs(180)),
            reconcile_delay: Span::secs(2, 9),
            retry_interval: Duration::from_secs(30),
            slow: Vec::new(),
            slow_delay: Span::secs(34, 48),
            failing: Vec::new(),
            suspended: Vec::new(),
            unannotated: Vec::new(),
            bad_revision_after: None,
            bad_on: Vec::new(),
            bad_latency: Duration::from_millis(180),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleShape {
    pub name: String,
    /// Cron expression (five fields, `@daily`, `@every 1h`, ...).
    pub cron: String,
    #[serde(default = "default_ttl")]
    pub ttl: String,
    /// Namespaces the backups include (all when empty).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Clusters (globs) that have this schedule; all clusters with Velero when empty.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Clusters (globs) where it is paused.
    #[serde(default)]
    pub paused: Vec<String>,
}

fn default_ttl() -> String {
    "720h0m0s".to_owned()
}

/// Kyverno's policy reports on the spokes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyShape {
    /// Whether some workloads violate policies (a missing label, drifting image tags);
    /// false: every result passes and nothing breaks later.
    pub violations: bool,
    /// Mean time between a result flipping (a workload fixed or broken); none: never.
    #[serde(deserialize_with = "opt_duration")]
    pub churn_every: Option<Duration>,
    /// Clusters (globs) where the high-severity rule (images from an unknown registry)
    /// fails; elsewhere it passes, and the findings are the medium and low ones (as a
    /// fleet in Kyverno's audit mode carries them for weeks).
    pub high_on: Vec<String>,
    /// Clusters (globs) whose workloads violate policies at all (medium and low
    /// findings); empty: every cluster's.
    pub findings_on: Vec<String>,
}

impl Default for PolicyShape {
    fn default() -> Self {
        Self {
            violations: true,
            churn_every: Some(Duration::from_secs(240)),
            high_on: vec!["staging-us-1".into()],
            findings_on: vec!["staging-*".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VeleroShape {
    /// Clusters (globs) without Velero installed at all.
    pub without: Vec<String>,
    /// Clusters (globs) with Velero but no schedule.
    pub no_schedule: Vec<String>,
    pub schedules: Vec<ScheduleShape>,
    /// How long a backup runs.
    pub backup_duration: Span,
    /// How long a restore runs.
    pub restore_duration: Span,
    /// Share of backups that end PartiallyFailed, and Failed.
    pub partial_rate: f64,
    pub fail_rate: f64,
    /// Clusters (globs) whose backups keep failing.
    pub failing: Vec<String>,
    /// Past backups seeded per schedule, so the fleet starts with a history.
    pub history: usize,
}

impl Default for VeleroShape {
    fn default() -> Self {
        Self {
            without: Vec::new(),
            no_schedule: Vec::new(),
            schedules: vec![
                ScheduleShape {
                    name: "daily-full".into(),
                    cron: "0 1 * * *".into(),
                    ttl: default_ttl(),
                    namespaces: Vec::new(),
                    clusters: Vec::new(),
                    paused: Vec::new(),
                },
                ScheduleShape {
                    name: "hourly-config".into(),
                    cron: "0 * * * *".into(),
                    ttl: "72h0m0s".into(),
                    namespaces: Vec::new(),
                    clusters: Vec::new(),
                    paused: Vec::new(),
                },
            ],
            backup_duration: Span::secs(20, 60),
            restore_duration: Span::secs(20, 45),
            partial_rate: 0.08,
            fail_rate: 0.03,
            failing: Vec::new(),
            history: 6,
        }
    }
}

/// A fault on some clusters at some time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    /// Cluster name or glob.
    pub cluster: String,
    /// When, counted from the fleet's start.
    #[serde(deserialize_with = "duration")]
    pub at: Duration,
    /// How long (until the end when absent).
    #[serde(default, rename = "for", deserialize_with = "opt_duration")]
    pub duration: Option<Duration>,
    /// Repeat every this long (from `at`).
    #[serde(default, deserialize_with = "opt_duration")]
    pub every: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub latency: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub jitter: Option<Duration>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub outage: Option<OutageMode>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub drop_watches_every: Option<Duration>,
    #[serde(default)]
    pub gone_storm: bool,
    #[serde(default)]
    pub reject_credentials: bool,
    /// `readyz` or `readyz-and-livez`: those endpoints answer 404.
    #[serde(default)]
    pub no_health: Option<NoHealth>,
    /// TLS offers HTTP/1.1 only, as a TLS proxy in front of the API server may.
    #[serde(default)]
    pub http1_only: bool,
    /// A CRD removed for the duration.
    #[serde(default)]
    pub remove_crd: Option<String>,
    /// The Velero storage location becomes Unavailable for the duration.
    #[serde(default)]
    pub storage_unavailable: bool,
}

impl ScheduledFault {
    /// The API faults this entry sets, on top of `base`.
    pub fn apply_to(&self, base: &mut FaultState) {
        if let Some(l) = self.latency {
            base.latency = l;
        }
        if let Some(j) = self.jitter {
            base.jitter = j;
        }
        if let Some(r) = self.error_rate {
            base.error_rate = r;
        }
        if self.outage.is_some() {
            base.outage = self.outage;
        }
        if self.drop_watches_every.is_some() {
            base.drop_watches_every = self.drop_watches_every;
        }
        base.gone_storm |= self.gone_storm;
        base.reject_credentials |= self.reject_credentials;
        base.http1_only |= self.http1_only;
        if self.no_health.is_some() {
            base.no_health = self.no_health;
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub fleet: FleetShape,
    pub flux: FluxShape,
    pub velero: VeleroShape,
    pub policy: PolicyShape,
    #[serde(rename = "fault")]
    pub faults: Vec<ScheduledFault>,
    #[serde(rename = "degrade")]
    pub degradations: Vec<Degradation>,
}

/// A workload that loses ready replicas a while after its cluster becomes a spoke (the
/// fleet's configuration reached it): what "verify workload operation" must catch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Degradation {
    /// A cluster name (glob).
    pub cluster: String,
    /// The Deployment, as namespace/name.
    pub workload: String,
    /// How long after the fleet's policies reach the cluster.
    #[serde(deserialize_with = "duration")]
    pub after: Duration,
    /// The ready replicas it falls to.
    #[serde(default)]
    pub ready: i64,
}

/// The scenarios shipped in `assets/scenarios/`, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../assets/scenarios/default.toml")),
    ("demo", include_str!("../../assets/scenarios/demo.toml")),
    ("healthy", include_str!("../../assets/scenarios/healthy.toml")),
    ("outage", include_str!("../../assets/scenarios/outage.toml")),
    ("chaos", include_str!("../../assets/scenarios/chaos.toml")),
    ("migration", include_str!("../../assets/scenarios/migration.toml")),
    ("bad-revision", include_str!("../../assets/scenarios/bad-revision.toml")),
];

impl Scenario {
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let scenario: Scenario = toml::from_str(text).wrap_err_with(|| format!("invalid scenario {origin}"))?;
        for s in &scenario.velero.schedules {
            crate::cron::Schedule::parse(&s.cron)
                .wrap_err_with(|| format!("scenario {origin}: schedule {}", s.name))?;
        }
        Ok(scenario)
    }

    /// A shipped scenario by name, or a file path.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, name_or_path);
        }
        let text = std::fs::read_to_string(name_or_path).wrap_err_with(|| {
            format!(
                "reading scenario {name_or_path} (shipped scenarios: {})",
                BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })?;
        Self::parse(&text, name_or_path)
    }

    pub fn builtin(name: &str) -> Self {
        Self::load(name).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_sample_in_range() {
        let s = Span::parse("2s..4s").unwrap();
        for _ in 0..50 {
            let d = s.sample();
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
        }
        assert_eq!(Span::parse("250ms").unwrap(), Span::fixed(Duration::from_millis(250)));
        assert!(Span::parse("5s..1s").is_err());
        assert!(Span::parse("soon").is_err());
        // Per key: each spoke keeps to its own part of the range.
        let wide = Span::secs(0, 100);
        for key in ["staging-eu-1", "production-us-1"] {
            let draws: Vec<f64> = (0..50).map(|_| wide.sample_for(key).as_secs_f64()).collect();
            let (lo, hi) = draws.iter().fold((f64::MAX, 0.0_f64), |(a, b), d| (a.min(*d), b.max(*d)));
            assert!(hi - lo <= 20.0 + 1e-9, "{key}: {lo}..{hi}");
        }
    }

    #[test]
    fn shipped_scenarios_parse() {
        for (name, text) in BUILTIN {
            Scenario::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Scenario::parse("[fleet]\nspokez = 3\n", "test").unwrap_err();
        assert!(format!("{err:?}").contains("spokez"), "{err:?}");
        let faults =
            Scenario::parse("[[fault]]\ncluster = \"prod-*\"\nat = \"10s\"\nfor = \"5s\"\noutage = \"hanging\"\n", "t")
                .unwrap();
        assert_eq!(faults.faults[0].outage, Some(OutageMode::Hanging));
        assert_eq!(faults.faults[0].duration, Some(Duration::from_secs(5)));
    }
}
