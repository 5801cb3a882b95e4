//! The audit pane as drawn: journal lines (local and another operator's through the
//! hub), Kubernetes Events and audit log lines of every shape the parser meets, merged
//! newest first; a filter; a record's detail; a source with malformed lines.

use crate::common;

use std::sync::Arc;

use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::audit::feed::{Feed, SourceStatus};
use fleetdeck::audit::parse::{Parsed, audit_line, kube_event};
use fleetdeck::cluster::ContextSpec;
use fleetdeck::journal::{Draft, Entry, GENESIS, Phase, entry};
use jiff::Timestamp;
use serde_json::json;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + s).unwrap()
}

fn at(s: i64) -> String {
    t(s).to_string()
}

fn audit(cluster: &str, v: serde_json::Value) -> fleetdeck::audit::AuditRecord {
    match audit_line(&Arc::from(cluster), &v.to_string()) {
        Ok(Parsed::Record(r)) => *r,
        other => panic!("{other:?}"),
    }
}

fn journal(s: i64, phase: Phase, local_user: &str, prev: &str, seq: u64) -> Entry {
    let draft = Draft {
        phase,
        action: "suspend".into(),
        confirmation: "typed production-eu-1".into(),
        result: (phase == Phase::Outcome).then(|| entry::Result { ok: true, message: String::new() }),
        write_id: "7d1c".into(),
        ..common::draft(local_user, t(s))
    };
    Entry::chain(draft, seq, prev)
}

fn event(v: &serde_json::Value) -> fleetdeck::fleet::event::EventSummary {
    fleetdeck::fleet::event::EventSummary::fold(v, fleetdeck::journal::event::JOURNAL_ANNOTATION)
}

fn model() -> Model {
    let names = ["hub", "production-eu-1", "staging-eu-1"];
    let specs: Vec<ContextSpec> = names.iter().map(|n| common::spec(n)).collect();
    let mut m = Model::new(&specs, ModelSettings::default(), t(0));
    let intent = journal(900, Phase::Intent, "alice", GENESIS, 1);
    let outcome = journal(901, Phase::Outcome, "alice", &intent.hash, 2);
    let theirs = journal(700, Phase::Outcome, "bob", GENESIS, 1);
    let posted = fleetdeck::journal::event::journal_event(&theirs, "production-eu-1", "bobs-desk");
    let hub: Arc<str> = Arc::from("hub");
    let records = vec![
        fleetdeck::audit::AuditRecord::from_journal(&intent, ""),
        fleetdeck::audit::AuditRecord::from_journal(&outcome, ""),
        kube_event(&hub, &event(&posted)).unwrap(),
        kube_event(
            &Arc::from("staging-eu-1"),
            &event(&json!({"metadata": {"name": "web.17", "namespace": "shop", "uid": "e-1"},
                "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-5d9f"},
                "reason": "BackOff", "message": "Back-off restarting failed container web", "type": "Warning",
                "count": 4, "source": {"component": "kubelet"}, "lastTimestamp": at(880)})),
        )
        .unwrap(),
        kube_event(
            &hub,
            &event(&json!({"metadata": {"name": "policies.1", "namespace": "production-eu-1", "uid": "e-2"},
                "involvedObject": {"kind": "Kustomization", "namespace": "production-eu-1", "name": "policies"},
                "reason": "ReconciliationSucceeded", "message": "Reconciliation finished in 1.2s", "type": "Normal",
                "reportingComponent": "kustomize-controller", "lastTimestamp": at(850)})),
        )
        .unwrap(),
        audit(
            "production-eu-1",
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "stage": "ResponseComplete", "verb": "delete", "user": {"username": "mallory"},
            "objectRef": {"resource": "secrets", "namespace": "kube-system", "name": "bootstrap-token"},
            "responseStatus": {"code": 403, "reason": "Forbidden", "status": "Failure"},
            "requestURI": "/api/v1/namespaces/kube-system/secrets/bootstrap-token", "stageTimestamp": at(870)}),
        ),
        audit(
            "production-eu-1",
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "stage": "ResponseComplete", "verb": "patch", "user": {"username": "admin"},
            "impersonatedUser": {"username": "system:serviceaccount:ci:deployer"},
            "objectRef": {"resource": "deployments", "subresource": "scale", "namespace": "shop", "name": "web"},
            "responseStatus": {"code": 200}, "requestObject": {"spec": {"replicas": 5}},
            "requestURI": "/apis/apps/v1/namespaces/shop/deployments/web/scale", "stageTimestamp": at(860)}),
        ),
        audit(
            "hub",
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "stage": "ResponseStarted", "verb": "watch", "user": {"username": "system:serviceaccount:flux-system:kustomize-controller"},
            "objectRef": {"resource": "kustomizations", "apiGroup": "kustomize.toolkit.fluxcd.io"},
            "responseStatus": {"code": 200}, "requestURI": "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=true",
            "stageTimestamp": at(800)}),
        ),
    ];
    update(&mut m, Msg::Audit(Feed::Records(records)));
    // The local journal follower reads alice's entries a second time: one line each.
    update(&mut m, Msg::Audit(Feed::Records(vec![fleetdeck::audit::AuditRecord::from_journal(&outcome, "")])));
    let mut status = SourceStatus::new("production-eu-1 /var/log/kubernetes/audit.log".into());
    status.set("following", true);
    status.lines = 1200;
    status.malformed = 3;
    status.last_error = Some("line 1187: expected value at line 1 column 1".into());
    update(&mut m, Msg::Audit(Feed::Status(status)));
    update(&mut m, Msg::Tick(t(1000)));
    update(&mut m, Msg::Action(Action::Pane(Pane::Audit)));
    m
}

fn render(m: &Model, w: u16, h: u16) -> String {
    common::render(m, t(1000), w, h)
}

#[test]
fn the_timeline_newest_first() {
    let m = model();
    assert_eq!(m.audit.len(), 8, "alice's outcome is one line although read twice");
    let narrow = render(&m, 80, 24);
    assert!(narrow.contains("3 malformed"), "{narrow}");
    insta::assert_snapshot!("audit_80x24", narrow);
    insta::assert_snapshot!("audit_160x40", render(&m, 160, 40));
    // Changes, denials and warnings first: a successful watch is a routine read, hidden
    // and counted until asked for.
    assert!(narrow.contains("1 read hidden (a)") && !narrow.contains("watch "), "{narrow}");
    let mut m = m;
    update(&mut m, Msg::Action(Action::AllRequests));
    let all = render(&m, 120, 24);
    assert!(all.contains("reads shown (a)") && all.contains("watch"), "{all}");
}

#[test]
fn filters_detail_and_follow() {
    let mut m = model();
    update(&mut m, Msg::Action(Action::Filter));
    for c in "source:audit cluster:prod* user:mallory".chars() {
        update(&mut m, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
    }
    update(&mut m, Msg::FilterDone);
    let filtered = render(&m, 120, 20);
    assert!(filtered.contains("1 match") && filtered.contains("403 Forbidden"), "{filtered}");
    assert!(!filtered.contains("BackOff"), "{filtered}");
    insta::assert_snapshot!("audit_filtered_120x20", filtered);

    let mut m = model();
    update(&mut m, Msg::Action(Action::Down));
    assert!(!m.ui.audit.follow, "moving off the newest stops following");
    update(&mut m, Msg::Action(Action::Open));
    let detail = render(&m, 100, 40);
    assert!(detail.contains("\"confirmation\": \"typed production-eu-1\""), "{detail}");
    insta::assert_snapshot!("audit_detail_100x40", detail);

    // Export takes what the filter shows, oldest first.
    update(&mut m, Msg::Action(Action::Back));
    update(&mut m, Msg::Action(Action::Filter));
    for c in "source:event".chars() {
        update(&mut m, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
    }
    let effects = update(&mut m, Msg::Action(Action::Export));
    let [fleetdeck::app::msg::Effect::Export(records)] = &effects[..] else { panic!("{effects:?}") };
    let verbs: Vec<&str> = records.iter().map(|r| r.verb.as_str()).collect();
    assert_eq!(verbs, ["ReconciliationSucceeded", "BackOff"]);
}
