//! A migration's report: Markdown for people, JSON for tools.

use serde_json::Value;

use super::Inventory;
use crate::fleet::run::{Run, Step, Verdict};

/// The report of a run: each step with its evidence and duration, who confirmed what
/// and when, the overrides with their reasons, the inventory before and after.
pub fn report(run: &Run, before: Option<&Inventory>, after: Option<&Inventory>) -> (String, Value) {
    let took = |s: &Step| match (s.started_at, s.finished_at) {
        (Some(a), Some(b)) => format!("{:.1} s", b.duration_since(a).as_secs_f64().max(0.0)),
        _ => "-".into(),
    };
    let mut md = format!(
        "# Migration of {}\n\nRun {} on the hub {}, started {} by {}.\n\n",
        run.cluster,
        run.id,
        run.hub,
        run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        run.by.label()
    );
    let mut phase = "";
    for (i, s) in run.steps.iter().enumerate() {
        if s.phase != phase && !s.phase.is_empty() {
            phase = &s.phase;
            md.push_str(&format!("## {phase}\n\n"));
        }
        md.push_str(&format!("### {}. {} — {} ({})\n\n", i + 1, s.name, s.state.name(), took(s)));
        for e in &s.evidence {
            md.push_str(&format!("- {}: {}\n", verdict_word(e.verdict), e.text));
        }
        for (w, record) in s.writes.iter().enumerate() {
            if let Some(p) = run.planned(i, w) {
                md.push_str(&format!("- wrote {} on {}: {}\n", p.label(), p.context, record.state.name()));
            }
        }
        md.push('\n');
    }
    md.push_str("## Confirmations\n\n");
    for c in &run.confirmations {
        md.push_str(&format!("- step {}: {:?} by {} at {}\n", c.step + 1, c.text, c.by, c.at.strftime("%H:%M:%S")));
    }
    md.push_str("\n## Overrides\n\n");
    if run.overrides.is_empty() {
        md.push_str("none\n");
    }
    for o in &run.overrides {
        md.push_str(&format!(
            "- step {} by {} at {}: {} (the failure: {})\n",
            o.step + 1,
            o.by,
            o.at.strftime("%H:%M:%S"),
            o.reason,
            o.failure
        ));
    }
    for (title, inv) in [("before", before), ("after", after)] {
        md.push_str(&format!("\n## Inventory {title}\n\n"));
        match inv {
            Some(i) => md.push_str(&format!("{} (sha256 {})\n", i.summary(), i.sha256())),
            None => md.push_str("not taken\n"),
        }
    }
    let json = serde_json::json!({
        "run": run.id, "cluster": run.cluster, "hub": run.hub, "by": run.by.label(),
        "started_at": run.started_at, "steps": run.steps.iter().enumerate().map(|(i, s)| serde_json::json!({
            "n": i + 1, "phase": s.phase, "name": s.name, "kind": s.spec.kind(), "state": s.state.name(),
            "started_at": s.started_at, "finished_at": s.finished_at,
            "evidence": s.evidence.iter().map(|e| serde_json::json!({"verdict": verdict_word(e.verdict), "text": e.text})).collect::<Vec<_>>(),
            "writes": s.writes.iter().enumerate().filter_map(|(w, r)| run.planned(i, w).map(|p| serde_json::json!({
                "context": p.context, "verb": p.verb.name(), "object": p.label(), "state": r.state.name()}))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "confirmations": run.confirmations, "overrides": run.overrides,
        "inventory_before": before, "inventory_after": after,
    });
    (md, json)
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "fail",
    }
}
