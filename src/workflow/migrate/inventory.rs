//! The inventory a migration takes of a cluster before it changes anything, and the
//! judgments that compare the cluster with it later.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fleet::run::{Evidence, Verdict};
use crate::workflow::register::evidence;

/// A workload as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// Deployment, StatefulSet or DaemonSet.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Desired (a DaemonSet: scheduled) and ready.
    pub replicas: i64,
    pub ready: i64,
    pub images: Vec<String>,
}

impl Workload {
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A node as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub version: String,
    pub ready: bool,
}

/// Policy report results, summed over the cluster's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyTotals {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub error: i64,
    pub skip: i64,
}

/// The cluster's state as documented before the migration: the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub cluster: String,
    pub taken_at: Timestamp,
    pub namespaces: Vec<String>,
    pub workloads: Vec<Workload>,
    pub crds: Vec<String>,
    pub nodes: Vec<Node>,
    /// Flux's controllers on the cluster (namespace/name of their Deployments).
    pub flux: Vec<String>,
    /// Velero's CRDs are served and its namespace exists.
    pub velero: bool,
    /// Policy reports' totals; `None` where the cluster serves no PolicyReports.
    pub policy: Option<PolicyTotals>,
    /// What the cluster does not serve, or could not be read, and why.
    #[serde(default)]
    pub gaps: Vec<String>,
}

impl Inventory {
    /// The sha256 of its JSON, as the run records it.
    pub fn sha256(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One line for the run's evidence.
    pub fn summary(&self) -> String {
        let count = |kind: &str| self.workloads.iter().filter(|w| w.kind == kind).count();
        let ready = self.nodes.iter().filter(|n| n.ready).count();
        format!(
            "{} namespaces; {} Deployments, {} StatefulSets, {} DaemonSets; {} CRDs; {}/{} nodes Ready; Flux {}; Velero {}; policy results {}",
            self.namespaces.len(),
            count("Deployment"),
            count("StatefulSet"),
            count("DaemonSet"),
            self.crds.len(),
            ready,
            self.nodes.len(),
            if self.flux.is_empty() { "absent".to_owned() } else { self.flux.join(", ") },
            if self.velero { "present" } else { "absent" },
            self.policy.map_or("not served".to_owned(), |p| format!("{} fail, {} pass", p.fail, p.pass)),
        )
    }

    /// The inventory as Markdown, for people.
    pub fn markdown(&self) -> String {
        let mut md =
            format!("# Inventory of {}\n\nTaken at {} (sha256 {}).\n\n", self.cluster, self.taken_at, self.sha256());
        md.push_str(&format!("{}\n\n## Workloads\n\n", self.summary()));
        md.push_str("| kind | namespace | name | ready | images |\n|---|---|---|---|---|\n");
        for w in &self.workloads {
            md.push_str(&format!(
                "| {} | {} | {} | {}/{} | {} |\n",
                w.kind,
                w.namespace,
                w.name,
                w.ready,
                w.replicas,
                w.images.join(", ")
            ));
        }
        md.push_str("\n## Nodes\n\n| name | version | ready |\n|---|---|---|\n");
        for n in &self.nodes {
            md.push_str(&format!("| {} | {} | {} |\n", n.name, n.version, if n.ready { "yes" } else { "no" }));
        }
        md.push_str(&format!("\n## Namespaces\n\n{}\n", self.namespaces.join(", ")));
        md.push_str(&format!(
            "\n## CRDs\n\n{}\n",
            if self.crds.is_empty() { "none".into() } else { self.crds.join(", ") }
        ));
        if !self.gaps.is_empty() {
            md.push_str("\n## Not read\n\n");
            for g in &self.gaps {
                md.push_str(&format!("- {g}\n"));
            }
        }
        md
    }
}

/// Every workload of the baseline is still there and as ready as it was; every node
/// Ready. Each workload that got worse is named.
pub fn workloads_verdict(before: &Inventory, now: &Inventory) -> Vec<Evidence> {
    let mut lines = Vec::new();
    let mut fine = 0;
    for b in &before.workloads {
        let found = now.workloads.iter().find(|w| w.kind == b.kind && w.namespace == b.namespace && w.name == b.name);
        match found {
            None => lines.push(evidence(
                Verdict::Fail,
                format!("{} is gone (it had {}/{} ready)", b.label(), b.ready, b.replicas),
            )),
            Some(w) if w.ready < b.ready => lines.push(evidence(
                Verdict::Fail,
                format!("{}: {}/{} ready, it had {}/{}", b.label(), w.ready, w.replicas, b.ready, b.replicas),
            )),
            Some(_) => fine += 1,
        }
    }
    lines.insert(
        0,
        evidence(Verdict::Pass, format!("{fine} of {} workloads as ready as before", before.workloads.len())),
    );
    let not_ready: Vec<&str> = now.nodes.iter().filter(|n| !n.ready).map(|n| n.name.as_str()).collect();
    if not_ready.is_empty() {
        lines.push(evidence(Verdict::Pass, format!("all {} nodes Ready", now.nodes.len())));
    } else {
        lines.push(evidence(Verdict::Fail, format!("nodes not Ready: {}", not_ready.join(", "))));
    }
    lines
}

/// The policy reports show no new failures compared with the baseline.
pub fn policy_verdict(before: Option<PolicyTotals>, now: Option<PolicyTotals>) -> Evidence {
    match (before, now) {
        (_, None) => evidence(Verdict::Warn, "the cluster serves no PolicyReports: new failures cannot be compared"),
        (None, Some(n)) if n.fail == 0 => evidence(Verdict::Pass, "policy reports: no failed result"),
        (None, Some(n)) => {
            evidence(Verdict::Fail, format!("policy reports: {} failed results (none were reported before)", n.fail))
        }
        (Some(b), Some(n)) if n.fail <= b.fail => evidence(
            Verdict::Pass,
            format!("policy reports: {} failed results, {} before: no new failure", n.fail, b.fail),
        ),
        (Some(b), Some(n)) => evidence(
            Verdict::Fail,
            format!("policy reports: {} failed results, {} before: {} new", n.fail, b.fail, n.fail - b.fail),
        ),
    }
}
