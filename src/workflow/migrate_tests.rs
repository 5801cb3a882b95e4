//! The runbook file's validation and each migration judgment against fixture states.

use super::*;
use crate::fleet::run::{Session, StepState};
use jiff::Timestamp;
use serde_json::json;

fn t(secs: i64) -> Timestamp {
    "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(secs)
}

#[test]
fn the_shipped_runbook_is_the_plan_with_registration_in_place_and_every_step_holding() {
    let steps = Runbook::shipped().steps("staging-eu-2", &register::Settings::default());
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "document the current cluster state");
    assert!(
        names.contains(&"deploy spoke components: the spoke answers, its version is within one minor of the hub's")
    );
    assert_eq!(*names.last().unwrap(), "the report");
    assert!(steps.iter().all(|s| s.hold));
    let phases: Vec<&str> = steps.iter().map(|s| s.phase.as_str()).collect();
    assert_eq!((phases[0], *phases.last().unwrap()), ("pre-migration", "post-migration"));
    let overridable: Vec<&str> = steps.iter().filter(|s| s.overridable).map(|s| s.name.as_str()).collect();
    assert_eq!(overridable, vec!["the backup Completed", "test in staging first"]);
    let backup = steps.iter().find(|s| s.name == "back up all configurations").unwrap();
    assert!(
        matches!(&backup.spec, StepSpec::ChangeSet { plan, confirm, .. } if plan == "premigration-backup" && confirm == "staging-eu-2")
    );
    assert_eq!(backup.params["ttl"], "720h");
    let wait = steps.iter().find(|s| s.name == "the backup Completed").unwrap();
    assert_eq!(wait.spec, StepSpec::Wait { condition: "backup-completed".into(), timeout_secs: 1800 });
    let joined = steps.iter().find(|s| s.name.ends_with("joined as a spoke")).unwrap();
    assert!(
        matches!(joined.spec, StepSpec::Wait { timeout_secs: 300, .. }),
        "the runbook's timeout: {:?}",
        joined.spec
    );
    let connectivity = steps.iter().find(|s| s.name == "validate connectivity").unwrap();
    assert_eq!(connectivity.params["probes"], "20");
    assert!(steps.iter().any(|s| matches!(&s.spec, StepSpec::Gate { gate: Gate::Attest { .. } })));
}

#[test]
fn an_invalid_runbook_is_refused_with_its_file_step_and_key() {
    let cases = [
        ("[[step]]\nname = \"a\"\nkind = \"script\"\n", "x.toml: step 1 (a): key kind: unknown step kind \"script\""),
        (
            "[[step]]\nname = \"a\"\nkind = \"wait\"\ncondition = \"backup-completed\"\ntimeout = \"soon\"\n",
            "x.toml: step 1 (a): key timeout: \"soon\" is not a duration",
        ),
        ("[[step]]\nname = \"a\"\nkind = \"check\"\n", "x.toml: step 1 (a): missing key check"),
        ("[[step]]\nkind = \"check\"\ncheck = \"inventory\"\n", "x.toml: step 1: missing key name"),
        (
            "[[step]]\nname = \"a\"\nkind = \"check\"\ncheck = \"vibes\"\n",
            "key check: fleetdeck has no check \"vibes\" (one of inventory",
        ),
        (
            "[[step]]\nname = \"a\"\nkind = \"check\"\ncheck = \"inventory\"\n[[step]]\nname = \"b\"\nkind = \"check\"\ncheck = \"connectivity\"\nprobes = 0\n",
            "x.toml: step 2 (b): key probes: \"0\" is not a whole number of at least 1",
        ),
        (
            "[[step]]\nname = \"a\"\nkind = \"check\"\ncheck = \"inventory\"\nprobes = 3\n",
            "x.toml: step 1 (a): unknown key \"probes\"",
        ),
        ("[[step]]\nname = \"a\"\nkind = \"gate\"\n", "x.toml: step 1 (a): a gate has one of the keys attest"),
        (
            "[[step]]\nname = \"a\"\nkind = \"check\"\ncheck = \"inventory\"\noverride = \"yes\"\n",
            "key override: must be true or false",
        ),
        ("title = \"m\"\n", "x.toml: unknown key \"title\""),
        (
            "[[step]]\nname = \"r\"\nkind = \"runbook\"\nrunbook = \"register\"\ntimeout = \"later\"\n",
            "x.toml: step 1 (r): key timeout: \"later\" is not a duration",
        ),
        ("", "x.toml: no [[step]]"),
        ("[[step]\n", "x.toml: "),
    ];
    for (text, expected) in cases {
        let err = Runbook::parse(text, "x.toml").unwrap_err();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

fn workload(kind: &str, name: &str, replicas: i64, ready: i64) -> Workload {
    Workload { kind: kind.into(), namespace: "payments".into(), name: name.into(), replicas, ready, images: vec![] }
}

fn inventory(workloads: Vec<Workload>, nodes: &[(&str, bool)], fail: Option<i64>) -> Inventory {
    Inventory {
        cluster: "staging-eu-2".into(),
        taken_at: t(0),
        namespaces: vec!["payments".into()],
        workloads,
        crds: vec![],
        nodes: nodes.iter().map(|(n, r)| Node { name: (*n).into(), version: "v1.33.4".into(), ready: *r }).collect(),
        flux: vec![],
        velero: true,
        policy: fail.map(|fail| PolicyTotals { fail, pass: 10, ..PolicyTotals::default() }),
        gaps: vec![],
    }
}

#[test]
fn a_workload_that_got_worse_or_went_fails_the_verification_by_name() {
    let before = inventory(
        vec![
            workload("Deployment", "api", 3, 3),
            workload("StatefulSet", "ledger", 3, 3),
            workload("DaemonSet", "agent", 2, 2),
        ],
        &[("n0", true)],
        Some(0),
    );
    let same = workloads_verdict(&before, &before);
    assert_eq!(register::verdict_of(&same), Verdict::Pass);
    assert_eq!(same[0].text, "3 of 3 workloads as ready as before");
    let now = inventory(
        vec![workload("Deployment", "api", 3, 3), workload("StatefulSet", "ledger", 3, 1)],
        &[("n0", true), ("n1", false)],
        Some(0),
    );
    let worse = workloads_verdict(&before, &now);
    let failures: Vec<&str> = worse.iter().filter(|e| e.verdict == Verdict::Fail).map(|e| e.text.as_str()).collect();
    assert_eq!(
        failures,
        vec![
            "StatefulSet payments/ledger: 1/3 ready, it had 3/3",
            "DaemonSet payments/agent is gone (it had 2/2 ready)",
            "nodes not Ready: n1"
        ]
    );
    // More ready than before is fine.
    let better = inventory(vec![workload("Deployment", "api", 3, 3)], &[("n0", true)], None);
    let was = inventory(vec![workload("Deployment", "api", 3, 2)], &[("n0", true)], None);
    assert_eq!(register::verdict_of(&workloads_verdict(&was, &better)), Verdict::Pass);
}

#[test]
fn policy_reports_pass_without_new_failures_and_warn_when_not_served() {
    let totals = |fail| Some(PolicyTotals { fail, ..PolicyTotals::default() });
    assert_eq!(policy_verdict(totals(2), totals(2)).verdict, Verdict::Pass);
    assert_eq!(policy_verdict(totals(2), totals(1)).verdict, Verdict::Pass);
    let worse = policy_verdict(totals(2), totals(5));
    assert_eq!(
        (worse.verdict, worse.text.as_str()),
        (Verdict::Fail, "policy reports: 5 failed results, 2 before: 3 new")
    );
    assert_eq!(policy_verdict(totals(0), None).verdict, Verdict::Warn);
    assert_eq!(policy_verdict(None, totals(1)).verdict, Verdict::Fail);
}

#[test]
fn a_policy_probe_passes_only_when_admission_denies_it() {
    let denied = Err((
        400,
        "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/default/p".into(),
    ));
    let pass = probe_verdict("privileged-pod.yaml", &denied);
    assert_eq!(pass.verdict, Verdict::Pass);
    assert!(pass.text.starts_with("privileged-pod.yaml: denied: admission webhook"), "{}", pass.text);
    assert!(!pass.text.contains('\n'));
    assert_eq!(probe_verdict("p", &Ok(())).verdict, Verdict::Fail);
    let other = probe_verdict("p", &Err((404, "namespaces \"default\" not found".into())));
    assert!(other.verdict == Verdict::Fail && other.text.contains("not by admission"), "{}", other.text);
}

#[test]
fn latency_is_judged_on_the_p95_of_the_answers_and_any_failed_probe_fails() {
    let ms = |v: u64| Ok(Duration::from_millis(v));
    let mut samples: Vec<Result<Duration, String>> = (1..=19).map(ms).collect();
    samples.push(ms(400));
    let slo = Duration::from_millis(100);
    // 20 samples: the p95 is the 19th.
    let lines = latency_verdict(&samples, slo);
    assert_eq!(lines[0].text, "API p95 19 ms over 20 probes (target 100 ms)");
    assert_eq!(register::verdict_of(&lines), Verdict::Pass);
    samples.push(ms(300));
    samples.push(Err("connection refused".into()));
    let lines = latency_verdict(&samples, slo);
    assert_eq!(lines[0].verdict, Verdict::Fail, "{lines:?}");
    assert_eq!(lines[1].text, "1 of 22 probes failed (first: connection refused)");
    assert_eq!(latency_verdict(&[Err("x".into())], slo)[0].text, "no probe answered");
}

#[test]
fn kustomizations_pass_when_ready_at_their_source_within_the_propagation_target() {
    let slo = Duration::from_secs(30);
    let s = |ready, applied: &str, took| {
        ("policies".to_owned(), ready, applied.to_owned(), "main@sha1:abc".to_owned(), took)
    };
    assert_eq!(propagation_verdict(&[s(true, "main@sha1:abc", Some(8.2))], slo)[0].verdict, Verdict::Pass);
    let slow = &propagation_verdict(&[s(true, "main@sha1:abc", Some(41.0))], slo)[0];
    assert_eq!(slow.text, "policies Ready at main@sha1:abc in 41.0 s: over the 30 s target");
    assert_eq!(propagation_verdict(&[s(true, "main@sha1:old", None)], slo)[0].verdict, Verdict::Fail);
    assert_eq!(propagation_verdict(&[s(false, "", None)], slo)[0].verdict, Verdict::Fail);
    assert_eq!(propagation_verdict(&[], slo)[0].verdict, Verdict::Fail);
}

#[test]
fn a_backup_holds_when_completed_and_breaks_with_veleros_counts() {
    let b = |phase: &str| {
        json!({"status": {"phase": phase, "errors": 2, "warnings": 1, "failureReason": "",
        "progress": {"totalItems": 40, "itemsBackedUp": 38}}})
    };
    assert!(matches!(backup_reading("x", &b("Completed")), Reading::Held(_)));
    assert_eq!(
        backup_reading("x", &b("PartiallyFailed")),
        Reading::Broke("Backup x PartiallyFailed: 38 of 40 items, 2 errors, 1 warnings".into())
    );
    assert!(matches!(backup_reading("x", &b("Failed")), Reading::Broke(_)));
    assert_eq!(backup_reading("x", &json!({})), Reading::Pending("Backup x is waiting for Velero".into()));
    assert!(matches!(backup_reading("x", &b("InProgress")), Reading::Pending(t) if t.contains("38 of 40")));
}

fn run(cluster: &str, workflow: Workflow, state: RunState) -> Run {
    let by = Session { user: "alice".into(), host: "laptop".into(), pid: 1, id: "s".into() };
    let mut r = Run::new(&format!("r-{cluster}"), workflow, (cluster, cluster, "hub"), vec![], by, t(0));
    r.state = state;
    r.finished_at = Some(t(600));
    r
}

#[test]
fn production_waits_for_a_succeeded_staging_migration_and_names_it() {
    let (prod, staging) = (vec!["production-*".to_owned()], vec!["staging-*".to_owned()]);
    let none = staging_first("production-eu-2", &prod, &staging, &[]);
    assert_eq!(none.verdict, Verdict::Fail);
    assert!(none.text.contains("no staging cluster (staging-*)"), "{}", none.text);
    let not_yet = [
        run("staging-eu-2", Workflow::Migrate, RunState::Failed),
        run("staging-eu-3", Workflow::Register, RunState::Succeeded),
        run("edge-1", Workflow::Migrate, RunState::Succeeded),
    ];
    assert_eq!(staging_first("production-eu-2", &prod, &staging, &not_yet).verdict, Verdict::Fail);
    let done = [run("staging-eu-2", Workflow::Migrate, RunState::Succeeded)];
    let pass = staging_first("production-eu-2", &prod, &staging, &done);
    assert_eq!(pass.verdict, Verdict::Pass);
    assert!(pass.text.contains("run r-staging-eu-2"), "{}", pass.text);
    assert_eq!(staging_first("staging-eu-2", &prod, &staging, &[]).verdict, Verdict::Pass);
}

#[test]
fn the_backup_is_named_after_the_cluster_and_the_run_and_covers_every_namespace() {
    let r = run("staging-eu-2", Workflow::Migrate, RunState::Running);
    let writes = plan_backup(&r, "720h").unwrap();
    assert_eq!(writes[0].object.name, "fleetdeck-premigration-staging-eu-2-20261201100000");
    assert_eq!(writes[0].body["spec"]["includedNamespaces"], json!(["*"]));
    assert_eq!(writes[0].body["spec"]["ttl"], "720h0m0s");
    assert_eq!(writes[0].body["metadata"]["labels"][RUN_LABEL], "r-staging-eu-2");
    let mut hub_only = r.clone();
    hub_only.context.clear();
    assert!(plan_backup(&hub_only, "720h").is_err());
}

#[test]
fn the_report_holds_each_step_the_confirmations_overrides_and_both_inventories() {
    let mut r = run("staging-eu-2", Workflow::Migrate, RunState::Succeeded);
    let before = inventory(vec![workload("Deployment", "api", 3, 3)], &[("n0", true)], Some(0));
    let mut step = Step::new("test in staging first", StepSpec::Check { check: "staging-first".into() });
    step.phase = "pre-migration".into();
    step.state = StepState::Warned;
    step.evidence.push(register::evidence(Verdict::Warn, "overridden by bob: CHG-1"));
    r.steps.push(step);
    r.overrides.push(crate::fleet::run::Override {
        step: 0,
        failure: "no staging run".into(),
        reason: "CHG-1".into(),
        by: "bob".into(),
        at: t(5),
    });
    let (md, json) = report(&r, Some(&before), Some(&before));
    assert!(md.contains("## pre-migration") && md.contains("### 1. test in staging first — warned"), "{md}");
    assert!(md.contains("- step 1 by bob at 10:00:05: CHG-1 (the failure: no staging run)"), "{md}");
    assert!(md.contains("## Inventory before") && md.contains(&before.sha256()));
    assert_eq!(json["overrides"][0]["reason"], "CHG-1");
    assert_eq!(json["steps"][0]["state"], "warned");
    assert_eq!(json["inventory_after"]["workloads"][0]["name"], "api");
}

#[test]
fn the_shipped_policy_probes_are_pods_that_break_one_rule_each() {
    for (name, text) in PROBES {
        let probe: Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(probe["kind"], "Pod", "{name}");
        assert!(probe.pointer("/metadata/namespace").is_some(), "{name}");
    }
}
