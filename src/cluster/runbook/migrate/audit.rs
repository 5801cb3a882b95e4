//! A migration's security audit: what the cluster's credentials may write, the hub
//! identity's binding on it, the journal's chain, and the writes by others during the
//! run from the cluster's audit log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::judged;
use crate::cluster::runbook::Runner;
use crate::cluster::runbook::checks::Checked;
use crate::fields::text;
use crate::fleet::run::{Evidence, ObjectRef, Run, Verdict};
use crate::workflow::register::evidence;

impl Runner {
    /// The spoke's credentials' access review, the hub identity's binding on the spoke,
    /// the journal chain for the run's entries, and the writes during the run by anyone
    /// but fleetdeck and Flux (from the cluster's audit log when one is configured).
    pub(super) async fn security_audit(&self, run: &Run) -> Checked {
        let context = run.context.as_str();
        let mut lines = Vec::new();
        match self.writer.client(context).await {
            Ok(client) => match crate::cluster::access::review(&client, self.settings.request_timeout).await {
                Ok(allowed) if allowed.is_empty() => lines.push(evidence(
                    Verdict::Pass,
                    format!("{context}'s credentials may write none of the reviewed resources"),
                )),
                Ok(allowed) => {
                    lines.push(evidence(Verdict::Pass, format!("{context}'s credentials may: {}", allowed.join(", "))))
                }
                Err(e) => {
                    lines.push(evidence(Verdict::Fail, format!("{context}'s access review failed: {}", e.message)))
                }
            },
            Err(e) => lines.push(evidence(Verdict::Fail, e)),
        }
        let reg = &self.settings.register;
        let binding = ObjectRef::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "",
            &format!("{}-{}", reg.service_account, reg.role),
        );
        match self.read(context, &binding).await {
            Ok(Some(b)) => {
                let subjects: Vec<String> = b
                    .pointer("/subjects")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .map(|s| format!("{} {}/{}", text(s, "/kind"), text(s, "/namespace"), text(s, "/name")))
                            .collect()
                    })
                    .unwrap_or_default();
                lines.push(evidence(
                    Verdict::Pass,
                    format!(
                        "the hub's identity on {context}: ClusterRoleBinding {} binds {} to the ClusterRole {}",
                        binding.name,
                        subjects.join(", "),
                        text(&b, "/roleRef/name")
                    ),
                ));
            }
            Ok(None) => {
                lines.push(evidence(Verdict::Fail, format!("{context} has no ClusterRoleBinding {}", binding.name)))
            }
            Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot read {}: {}", binding.label(), e.describe()))),
        }
        let journal = self.writer.journal().clone();
        let run_id = run.id.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let verdict = journal.verify()?;
            let ours = journal.entries()?.iter().filter(|e| e.write_id.starts_with(&run_id)).count();
            Ok::<_, color_eyre::Report>((verdict, ours))
        })
        .await;
        match verified {
            Ok(Ok((verdict, ours))) => match &verdict.problem {
                None => lines.push(evidence(
                    Verdict::Pass,
                    format!("the journal's chain is intact ({} entries, {ours} of this run)", verdict.intact),
                )),
                Some((line, problem)) => lines.push(evidence(
                    Verdict::Fail,
                    format!("the journal's chain breaks at line {line}: {problem:?} ({ours} entries of this run)"),
                )),
            },
            Ok(Err(e)) => lines.push(evidence(Verdict::Fail, format!("cannot verify the journal: {e}"))),
            Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot verify the journal: {e}"))),
        }
        lines.extend(self.foreign_writes(run));
        judged(lines, BTreeMap::new())
    }

    /// The writes on the cluster since the run started that were neither the run's own
    /// (its objects and records) nor Flux's nor the control plane's.
    fn foreign_writes(&self, run: &Run) -> Vec<Evidence> {
        let files: Vec<&PathBuf> = self
            .migration()
            .audit_files
            .iter()
            .filter(|(c, _)| *c == run.cluster || *c == run.context)
            .map(|(_, p)| p)
            .collect();
        if files.is_empty() {
            return vec![evidence(
                Verdict::Warn,
                format!(
                    "no audit log is configured for {} ([audit.files]): writes by others during the run cannot be listed",
                    run.cluster
                ),
            )];
        }
        let cluster: Arc<str> = run.cluster.as_str().into();
        let flux = format!(
            "system:serviceaccount:{}:{}",
            self.settings.register.namespace, self.settings.register.service_account
        );
        let ours: Vec<(String, String, String)> = run
            .steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| (0..s.writes.len()).filter_map(move |w| run.planned(i, w)))
            .map(|p| (p.object.plural.clone(), p.object.namespace.clone(), p.object.name.clone()))
            .collect();
        // Each distinct write (who, verb, object) with how often it was made.
        let mut found: BTreeMap<String, usize> = BTreeMap::new();
        for path in files {
            let Ok(body) = std::fs::read_to_string(path) else {
                return vec![evidence(Verdict::Warn, format!("cannot read the audit log {}", path.display()))];
            };
            for line in body.lines() {
                let Ok(crate::audit::parse::Parsed::Record(r)) = crate::audit::parse::audit_line(&cluster, line) else {
                    continue;
                };
                let write = matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection");
                // Reviews are creates that change nothing; dry runs and refused
                // requests wrote nothing.
                let review = r.resource.ends_with("reviews");
                let applied = r.outcome.split(' ').next().and_then(|c| c.parse::<u16>().ok()).is_some_and(|c| c < 300);
                let dry = r.message.contains("dryRun=");
                let system = r.user.starts_with("system:node:")
                    || r.user.starts_with("system:kube-")
                    || r.user.starts_with("system:serviceaccount:kube-system:")
                    || r.user == "system:apiserver";
                let own = ours.iter().any(|(p, ns, n)| *p == r.resource && *ns == r.namespace && *n == r.name);
                if r.time < run.started_at || !write || review || !applied || dry || system || own || r.user == flux {
                    continue;
                }
                if r.resource == "events" {
                    continue;
                }
                let object =
                    if r.namespace.is_empty() { r.name.clone() } else { format!("{}/{}", r.namespace, r.name) };
                *found.entry(format!("{} {} {} {object}", r.user, r.verb, r.resource)).or_default() += 1;
            }
        }
        if found.is_empty() {
            return vec![evidence(
                Verdict::Pass,
                "the audit log shows no writes by anyone but fleetdeck, Flux and the control plane during the run",
            )];
        }
        let total: usize = found.values().sum();
        let shown: Vec<String> =
            found.iter().take(20).map(|(w, n)| if *n > 1 { format!("{w} ({n}×)") } else { w.clone() }).collect();
        vec![evidence(
            Verdict::Warn,
            format!(
                "{total} writes by others during the run: {}{}",
                shown.join("; "),
                if found.len() > 20 { "; …" } else { "" }
            ),
        )]
    }
}
