//! The fleet's judgments in the OpenMetrics text exposition (what Prometheus scrapes
//! natively), made with the `prometheus-client` crate from the report `check` prints:
//! `fleetdeck check --format openmetrics` writes one snapshot for a node exporter's
//! textfile collector. Every family is a gauge, which both the OpenMetrics and the
//! Prometheus text parsers read. Names follow the Prometheus conventions (base units, `_seconds`,
//! `_info`, `_ratio`); labels stay bounded (no revisions, no object UIDs).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::report::{FleetReport, ReportState};

/// A series' labels: names fixed by the family, values drawn from the fleet.
pub type Labels = Vec<(&'static str, String)>;

/// Gauge families of one snapshot, each series written as it was added when the registry
/// is encoded. A `Family` costs a hash map, two hashes and a lock per series, which were
/// most of a scrape at 1,000 clusters; a snapshot is written once and read once.
#[derive(Debug, Default)]
pub struct Snapshot {
    families: Vec<SnapshotFamily>,
}

#[derive(Debug)]
struct SnapshotFamily {
    name: &'static str,
    help: String,
    unit: Option<Unit>,
    series: Vec<(Labels, f64)>,
}

/// One family of a snapshot, to add series to.
pub struct Gauges<'a>(&'a mut SnapshotFamily);

impl Gauges<'_> {
    pub fn set(&mut self, labels: &[(&'static str, &str)], value: f64) {
        self.0.series.push((labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(), value));
    }

    pub fn flag(&mut self, labels: &[(&'static str, &str)], on: bool) {
        self.set(labels, f64::from(u8::from(on)));
    }
}

impl Snapshot {
    /// A new gauge family (help as the registry has it: a sentence).
    pub fn gauge(&mut self, name: &'static str, help: &str, unit: Option<Unit>) -> Gauges<'_> {
        self.families.push(SnapshotFamily { name, help: format!("{help}."), unit, series: Vec::new() });
        Gauges(self.families.last_mut().expect("just pushed"))
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Families without series are left out, as the registry leaves out empty ones.
        for f in self.families.iter().filter(|f| !f.series.is_empty()) {
            let mut metric = encoder.encode_descriptor(f.name, &f.help, f.unit.as_ref(), MetricType::Gauge)?;
            for (labels, value) in &f.series {
                ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

/// Every cluster state a `fleetdeck_cluster_state` series exists for.
const STATES: [ReportState; 8] = [
    ReportState::Live,
    ReportState::Syncing,
    ReportState::Connecting,
    ReportState::Degraded,
    ReportState::Unreachable,
    ReportState::Unauthorized,
    ReportState::Misconfigured,
    ReportState::NoContext,
];

/// The report as OpenMetrics text, every series labelled `shard` when one is named.
pub fn openmetrics(report: &FleetReport, shard: Option<&str>) -> String {
    openmetrics_with(report, shard, |_| {})
}

/// `openmetrics` with more families registered by `more` (the ones `serve` keeps as
/// probes arrive and draws from its model).
pub fn openmetrics_with(report: &FleetReport, shard: Option<&str>, more: impl FnOnce(&mut Registry)) -> String {
    let mut registry = match shard {
        Some(s) => Registry::with_prefix_and_labels("fleetdeck", [("shard".into(), s.to_owned().into())].into_iter()),
        None => Registry::with_prefix("fleetdeck"),
    };
    registry.register_collector(Box::new(snapshot(report)));
    more(&mut registry);
    // About 5.5 KB a cluster with serve's families: grown once, not doubled a dozen times.
    let mut out = String::with_capacity(4096 + report.clusters.len() * 6 * 1024);
    // Writing to a String does not fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The report's families.
fn snapshot(report: &FleetReport) -> Snapshot {
    use super::judge::Verdict;
    let mut s = Snapshot::default();
    // Info metrics are gauges of 1 named `_info`, as kube-state-metrics has them: the
    // OpenMetrics `info` type is not read by Prometheus's text parser (promtool, a node
    // exporter's textfile collector).
    let hub = report.hub.clone().unwrap_or_default();
    s.gauge("build_info", "fleetdeck's version and the hub it watches (always 1)", None)
        .set(&[("version", env!("CARGO_PKG_VERSION")), ("hub", &hub)], 1.0);
    let mut g = s.gauge("fleet_status", "the fleet's verdict, one series per verdict (1 for the current)", None);
    for verdict in [Verdict::Healthy, Verdict::Degraded, Verdict::Unreachable] {
        g.flag(&[("status", verdict.label())], report.status == verdict);
    }
    let mut g = s.gauge("rollback_trigger_firing", "a rollback trigger firing on a cluster (1)", None);
    for t in &report.triggers {
        g.set(&[("cluster", &t.cluster), ("trigger", t.trigger)], 1.0);
    }
    let clusters = &report.clusters;
    let mut g = s.gauge("cluster_state", "the cluster's state, one series per state (1 for the current)", None);
    for c in clusters {
        for state in STATES {
            g.flag(&[("cluster", &c.name), ("state", state.label())], c.state == state);
        }
    }
    let mut g = s.gauge("cluster_up", "whether fleetdeck reaches the cluster's API (1) or not (0)", None);
    for c in clusters {
        let reached = matches!(c.state, ReportState::Live | ReportState::Degraded | ReportState::Syncing);
        g.flag(&[("cluster", &c.name)], reached);
    }
    let mut g = s.gauge("cluster_healthy", "whether the cluster is within every target (1) or not (0)", None);
    for c in clusters {
        g.flag(&[("cluster", &c.name)], c.status == Verdict::Healthy);
    }
    let mut g = s.gauge("cluster_info", "the cluster's role and Kubernetes version (always 1)", None);
    for c in clusters {
        let version = c.version.as_deref().unwrap_or("");
        g.set(&[("cluster", &c.name), ("role", c.role.label()), ("kubernetes_version", version)], 1.0);
    }
    let mut g = s.gauge("cluster_nodes_ready", "nodes with Ready=True", None);
    for (c, n) in clusters.iter().filter_map(|c| Some((c, c.nodes.as_ref()?))) {
        g.set(&[("cluster", &c.name)], n.ready as f64);
    }
    let mut g = s.gauge("cluster_nodes", "nodes", None);
    for (c, n) in clusters.iter().filter_map(|c| Some((c, c.nodes.as_ref()?))) {
        g.set(&[("cluster", &c.name)], n.total as f64);
    }
    let mut g = s.gauge("cluster_data_age", "how old the freshest data from the cluster is", Some(Unit::Seconds));
    for (c, age) in clusters.iter().filter_map(|c| Some((c, c.data_age_seconds?))) {
        g.set(&[("cluster", &c.name)], age as f64);
    }
    let mut g = s.gauge(
        "cluster_availability",
        "successful API probes over the availability window, as a ratio",
        Some(Unit::Other("ratio".into())),
    );
    for (c, a) in clusters.iter().filter_map(|c| Some((c, c.availability?))) {
        g.set(&[("cluster", &c.name)], a / 100.0);
    }
    let mut g = s.gauge(
        "cluster_api_latency",
        "API probe latency over the probe window, by percentile (a snapshot)",
        Some(Unit::Seconds),
    );
    for c in clusters {
        // `percentile`, not `quantile`: that label belongs to summaries.
        let l = &c.latency_ms;
        for (percentile, ms) in [("50", l.p50), ("95", l.p95), ("99", l.p99)] {
            if let Some(ms) = ms {
                g.set(&[("cluster", &c.name), ("percentile", percentile)], ms / 1000.0);
            }
        }
    }
    let mut g = s.gauge("spoke_kustomizations", "the spoke's Kustomizations on the hub, by state", None);
    for c in clusters.iter().filter(|c| c.propagation.total() > 0) {
        let p = &c.propagation;
        for (state, n) in
            [("in_sync", p.in_sync), ("pending", p.pending), ("failed", p.failed), ("suspended", p.suspended)]
        {
            g.set(&[("cluster", &c.name), ("state", state)], n as f64);
        }
    }
    let mut g = s.gauge("cluster_policy_violations", "failed policy report results (target 0)", None);
    for (c, v) in clusters.iter().filter_map(|c| Some((c, c.violations?))) {
        g.set(&[("cluster", &c.name)], v as f64);
    }
    let mut g = s.gauge("policy_violations", "failed policy report results of one policy on a cluster", None);
    for c in clusters {
        for (policy, n) in c.violations_by_policy.iter().flatten() {
            g.set(&[("cluster", &c.name), ("policy", policy)], *n as f64);
        }
    }
    let backups = || clusters.iter().flat_map(|c| c.backups.iter().map(move |b| (c.name.as_str(), b)));
    let mut g = s.gauge(
        "backup_last_success_timestamp",
        "when a Velero schedule's newest good backup was taken (Unix time)",
        Some(Unit::Seconds),
    );
    for (cluster, b) in backups() {
        if let Some(at) = b.last_success {
            g.set(&[("cluster", cluster), ("schedule", &b.schedule)], at.as_millisecond() as f64 / 1000.0);
        }
    }
    let mut g =
        s.gauge("backup_rpo", "the RPO a Velero schedule is held to: its interval plus the grace", Some(Unit::Seconds));
    for (cluster, b) in backups() {
        if let Some(seconds) = b.rpo_seconds {
            g.set(&[("cluster", cluster), ("schedule", &b.schedule)], seconds as f64);
        }
    }
    let mut g = s.gauge("backup_within_rpo", "whether a Velero schedule is within its RPO (1) or not (0)", None);
    for (cluster, b) in backups() {
        g.flag(&[("cluster", cluster), ("schedule", &b.schedule)], b.rpo_ok);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::report::{ClusterReport, LatencyMs, Nodes, Propagation, Targets, TriggerReport};

    fn cluster(name: &str, state: ReportState) -> ClusterReport {
        ClusterReport {
            name: name.into(),
            role: crate::fleet::registry::Role::Spoke,
            state,
            status: super::super::judge::Verdict::Healthy,
            version: Some("v1.33.4".into()),
            nodes: Some(Nodes { ready: 2, total: 3 }),
            latency_ms: LatencyMs { p50: Some(1.5), p95: Some(120.0), p99: None },
            availability: Some(99.5),
            propagation: Propagation {
                in_sync: 1,
                pending: 1,
                failed: 0,
                suspended: 0,
                last_seconds: None,
                p95_seconds: None,
            },
            violations: Some(3),
            compliance: None,
            violations_by_severity: None,
            violations_by_policy: Some(
                [("disallow-privileged".to_owned(), 2), ("require-labels".to_owned(), 1)].into(),
            ),
            backups: vec![crate::derive::report::BackupReport {
                schedule: "velero/daily".into(),
                last_success: None,
                rpo_ok: false,
                rpo_seconds: Some(90_000),
                last_phase: None,
            }],
            data_age_seconds: Some(4),
            stale: false,
            problems: vec![],
        }
    }

    #[test]
    fn the_report_in_openmetrics_with_bounded_labels() {
        let report = FleetReport {
            status: super::super::judge::Verdict::Degraded,
            hub: Some("hub".into()),
            generated_at: jiff::Timestamp::UNIX_EPOCH,
            targets: Targets { latency_ms: 100.0, availability: 99.99, propagation_seconds: 30.0, violations: 0 },
            clusters: vec![cluster("production-eu-1", ReportState::Live), cluster("edge", ReportState::Unreachable)],
            triggers: vec![TriggerReport {
                cluster: "production-eu-1".into(),
                trigger: "security",
                since: jiff::Timestamp::UNIX_EPOCH,
                detail: "3 new policy violations".into(),
                line: String::new(),
            }],
            recoveries: vec![],
        };
        let text = openmetrics(&report, Some("eu"));
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in [
            "fleetdeck_fleet_status{shard=\"eu\",status=\"degraded\"} 1.0",
            "fleetdeck_cluster_state{shard=\"eu\",cluster=\"edge\",state=\"unreachable\"} 1.0",
            "fleetdeck_cluster_state{shard=\"eu\",cluster=\"edge\",state=\"live\"} 0.0",
            "fleetdeck_cluster_up{shard=\"eu\",cluster=\"edge\"} 0.0",
            "fleetdeck_cluster_api_latency_seconds{shard=\"eu\",cluster=\"production-eu-1\",percentile=\"95\"} 0.12",
            "fleetdeck_cluster_availability_ratio{shard=\"eu\",cluster=\"production-eu-1\"} 0.995",
            "fleetdeck_spoke_kustomizations{shard=\"eu\",cluster=\"production-eu-1\",state=\"pending\"} 1.0",
            "fleetdeck_rollback_trigger_firing{shard=\"eu\",cluster=\"production-eu-1\",trigger=\"security\"} 1.0",
            "# UNIT fleetdeck_cluster_data_age_seconds seconds",
            "fleetdeck_policy_violations{shard=\"eu\",cluster=\"edge\",policy=\"disallow-privileged\"} 2.0",
            "fleetdeck_backup_rpo_seconds{shard=\"eu\",cluster=\"edge\",schedule=\"velero/daily\"} 90000.0",
            "fleetdeck_backup_within_rpo{shard=\"eu\",cluster=\"edge\",schedule=\"velero/daily\"} 0.0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("fleetdeck_build_info{"), "{text}");
        assert!(!text.contains("sha1:"), "no revision is a label");
    }
}
