//! The fleet's judgments in the OpenMetrics text exposition (what Prometheus scrapes
//! natively), made with the `prometheus-client` crate from the report `check` prints:
//! `fleetdeck check --format openmetrics` writes one snapshot for a node exporter's
//! textfile collector. Every family is a gauge, which both the OpenMetrics and the
//! Prometheus text parsers read. Names follow the Prometheus conventions (base units, `_seconds`,
//! `_info`, `_ratio`); labels stay bounded (no revisions, no object UIDs).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::report::{FleetReport, ReportState};

type Labels = Vec<(String, String)>;
type Gauges = Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>;

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

struct Families {
    registry: Registry,
}

impl Families {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>) -> Gauges {
        let family = Gauges::default();
        match unit {
            Some(unit) => self.registry.register_with_unit(name, help, unit, family.clone()),
            None => self.registry.register(name, help, family.clone()),
        }
        family
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The report as OpenMetrics text, every series labelled `shard` when one is named.
pub fn openmetrics(report: &FleetReport, shard: Option<&str>) -> String {
    openmetrics_with(report, shard, |_| {})
}

/// `openmetrics` with more families registered by `more` (the ones `serve` keeps as
/// probes arrive: its histogram and counters).
pub fn openmetrics_with(report: &FleetReport, shard: Option<&str>, more: impl FnOnce(&mut Registry)) -> String {
    let registry = match shard {
        Some(s) => Registry::with_prefix_and_labels("fleetdeck", [("shard".into(), s.to_owned().into())].into_iter()),
        None => Registry::with_prefix("fleetdeck"),
    };
    let mut f = Families { registry };
    // Info metrics are gauges of 1 named `_info`, as kube-state-metrics has them: the
    // OpenMetrics `info` type is not read by Prometheus's text parser (promtool, a node
    // exporter's textfile collector).
    let build = f.gauge("build_info", "fleetdeck's version and the hub it watches (always 1)", None);
    let hub = report.hub.clone().unwrap_or_default();
    build.get_or_create(&labels(&[("version", env!("CARGO_PKG_VERSION")), ("hub", &hub)])).set(1.0);
    let fleet_status = f.gauge("fleet_status", "the fleet's verdict, one series per verdict (1 for the current)", None);
    let triggers = f.gauge("rollback_trigger_firing", "a rollback trigger firing on a cluster (1)", None);
    let state = f.gauge("cluster_state", "the cluster's state, one series per state (1 for the current)", None);
    let up = f.gauge("cluster_up", "whether fleetdeck reaches the cluster's API (1) or not (0)", None);
    let healthy = f.gauge("cluster_healthy", "whether the cluster is within every target (1) or not (0)", None);
    let cluster_info = f.gauge("cluster_info", "the cluster's role and Kubernetes version (always 1)", None);
    let nodes_ready = f.gauge("cluster_nodes_ready", "nodes with Ready=True", None);
    let nodes = f.gauge("cluster_nodes", "nodes", None);
    let age = f.gauge("cluster_data_age", "how old the freshest data from the cluster is", Some(Unit::Seconds));
    let availability = f.gauge(
        "cluster_availability",
        "successful API probes over the availability window, as a ratio",
        Some(Unit::Other("ratio".into())),
    );
    let latency = f.gauge(
        "cluster_api_latency",
        "API probe latency over the probe window, by percentile (a snapshot)",
        Some(Unit::Seconds),
    );
    let kustomizations = f.gauge("spoke_kustomizations", "the spoke's Kustomizations on the hub, by state", None);
    let violations = f.gauge("cluster_policy_violations", "failed policy report results (target 0)", None);
    let by_policy = f.gauge("policy_violations", "failed policy report results of one policy on a cluster", None);
    let backup_success = f.gauge(
        "backup_last_success_timestamp",
        "when a Velero schedule's newest good backup was taken (Unix time)",
        Some(Unit::Seconds),
    );
    let rpo =
        f.gauge("backup_rpo", "the RPO a Velero schedule is held to: its interval plus the grace", Some(Unit::Seconds));
    let within_rpo = f.gauge("backup_within_rpo", "whether a Velero schedule is within its RPO (1) or not (0)", None);

    for verdict in [super::judge::Verdict::Healthy, super::judge::Verdict::Degraded, super::judge::Verdict::Unreachable]
    {
        let v = f64::from(u8::from(report.status == verdict));
        fleet_status.get_or_create(&labels(&[("status", verdict.label())])).set(v);
    }
    for t in &report.triggers {
        triggers.get_or_create(&labels(&[("cluster", &t.cluster), ("trigger", t.trigger)])).set(1.0);
    }
    for c in &report.clusters {
        let cluster = c.name.as_str();
        let one = labels(&[("cluster", cluster)]);
        for s in STATES {
            let v = f64::from(u8::from(c.state == s));
            state.get_or_create(&labels(&[("cluster", cluster), ("state", s.label())])).set(v);
        }
        let reached = matches!(c.state, ReportState::Live | ReportState::Degraded | ReportState::Syncing);
        up.get_or_create(&one).set(f64::from(u8::from(reached)));
        let within = c.status == super::judge::Verdict::Healthy;
        healthy.get_or_create(&one).set(f64::from(u8::from(within)));
        let version = c.version.as_deref().unwrap_or("");
        cluster_info
            .get_or_create(&labels(&[("cluster", cluster), ("role", c.role.label()), ("kubernetes_version", version)]))
            .set(1.0);
        if let Some(n) = &c.nodes {
            nodes_ready.get_or_create(&one).set(n.ready as f64);
            nodes.get_or_create(&one).set(n.total as f64);
        }
        if let Some(a) = c.data_age_seconds {
            age.get_or_create(&one).set(a as f64);
        }
        if let Some(a) = c.availability {
            availability.get_or_create(&one).set(a / 100.0);
        }
        // `percentile`, not `quantile`: that label belongs to summaries.
        for (percentile, ms) in [("50", c.latency_ms.p50), ("95", c.latency_ms.p95), ("99", c.latency_ms.p99)] {
            if let Some(ms) = ms {
                latency.get_or_create(&labels(&[("cluster", cluster), ("percentile", percentile)])).set(ms / 1000.0);
            }
        }
        let p = &c.propagation;
        if p.total() > 0 {
            for (state, n) in
                [("in_sync", p.in_sync), ("pending", p.pending), ("failed", p.failed), ("suspended", p.suspended)]
            {
                kustomizations.get_or_create(&labels(&[("cluster", cluster), ("state", state)])).set(n as f64);
            }
        }
        if let Some(v) = c.violations {
            violations.get_or_create(&one).set(v as f64);
        }
        for (policy, n) in c.violations_by_policy.iter().flatten() {
            by_policy.get_or_create(&labels(&[("cluster", cluster), ("policy", policy)])).set(*n as f64);
        }
        for b in &c.backups {
            let l = labels(&[("cluster", cluster), ("schedule", &b.schedule)]);
            if let Some(at) = b.last_success {
                backup_success.get_or_create(&l).set(at.as_millisecond() as f64 / 1000.0);
            }
            within_rpo.get_or_create(&l).set(f64::from(u8::from(b.rpo_ok)));
            if let Some(seconds) = b.rpo_seconds {
                rpo.get_or_create(&l).set(seconds as f64);
            }
        }
    }
    more(&mut f.registry);
    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = encode(&mut out, &f.registry);
    out
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
