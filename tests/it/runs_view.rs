//! The runs pane and a registration run at each of its steps, as drawn (80x24 and
//! 160x48), with runs made by the engine's own transitions at fixed times; and the frame
//! time of a runs pane of a thousand runs.

use crate::common;

use std::sync::Arc;

use common::fixture::t;
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::runs::RunReport;
use fleetdeck::app::update::update;
use fleetdeck::fleet::run::{Evidence, RUN_NAMESPACE, Run, Session, Verdict, Workflow, WriteError};
use fleetdeck::workflow::register::{self, Settings};
use fleetdeck::workflow::runbook::{Event, Prepared, on};
use serde_json::Value;

fn model() -> Model {
    let contexts = [common::spec("hub"), common::spec("edge-eu-1"), common::spec("staging-eu-1")];
    let settings = ModelSettings { writable: true, ..ModelSettings::default() };
    Model::new(&contexts, settings, t(0))
}

fn alice() -> Session {
    Session { user: "alice".into(), host: "ops-laptop".into(), pid: 4242, id: "s-1".into() }
}

/// A registration of edge-eu-1 begun at `start`, moved on by `events` a second apart.
fn registration(id: &str, start: i64, events: Vec<Event>) -> Run {
    let steps = register::register_steps("edge-eu-1", &Settings::default());
    let mut run = Run::new(id, Workflow::Register, ("edge-eu-1", "edge-eu-1", "hub"), steps, alice(), t(start));
    let mut at = start;
    for event in std::iter::once(Event::Begin).chain(events) {
        at += 1;
        // Unfit events are a bug in the test.
        on(&mut run, event, t(at), "alice@ops-laptop").expect("the engine takes the event");
        if let Some(lock) = run.lock.as_mut() {
            lock.renewed_at = t(at);
        }
    }
    run
}

fn pass(text: &str, facts: &[(&str, &str)]) -> Event {
    Event::Checked {
        verdict: Verdict::Pass,
        evidence: vec![Evidence { verdict: Verdict::Pass, text: text.into() }],
        facts: facts.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

fn preflight() -> Vec<Event> {
    vec![
        Event::Checked {
            verdict: Verdict::Warn,
            evidence: vec![
                Evidence { verdict: Verdict::Pass, text: "Kubernetes v1.33.2, the hub v1.33.4: within one minor".into() },
                Evidence {
                    verdict: Verdict::Warn,
                    text: "the server https://127.0.0.1:40123 is a loopback address: the hub's Flux reaches it only from this machine".into(),
                },
            ],
            facts: [("environment", "edge"), ("server", "https://127.0.0.1:40123"), ("version", "v1.33.2")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
        pass(
            "kube-system UID 5f0c2a4e-3b1d-4c8e-9a7f-1d2e3f4a5b6c, not registered under another name",
            &[("uid", "5f0c2a4e-3b1d-4c8e-9a7f-1d2e3f4a5b6c"), ("ca_sha256", "9c1e"), ("ca_data", "Q0E=")],
        ),
        pass("no namespace edge-eu-1 on the hub", &[]),
        pass("kustomize-controller is running on the hub", &[]),
        pass("edge-eu-1: may create serviceaccounts in kube-system", &[]),
    ]
}

fn planned(run_id: &str) -> Event {
    let mut run = registration(run_id, 0, vec![]);
    run.facts.extend(
        [
            ("environment", "edge"),
            ("uid", "5f0c"),
            ("ca_sha256", "9c1e"),
            ("server", "https://127.0.0.1:40123"),
            ("ca_data", "Q0E="),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Event::Planned(register::plan_register(&run, &Settings::default()))
}

fn previewed() -> Event {
    let lines = [
        "edge-eu-1 · create ServiceAccount kube-system/fleetdeck-hub",
        "edge-eu-1 · create ClusterRoleBinding fleetdeck-hub-cluster-admin",
        "edge-eu-1 · create Secret kube-system/fleetdeck-hub-token · data <redacted: 0 keys, 0 B>",
        "hub · create Namespace edge-eu-1",
        "hub · create Secret edge-eu-1/cluster-kubeconfig (checked when written: this change set creates its namespace)",
        "hub · create Kustomization edge-eu-1/policies (checked when written: this change set creates its namespace)",
        "hub · create Kustomization edge-eu-1/config (checked when written: this change set creates its namespace)",
    ];
    Event::Previewed(Ok(lines.iter().map(|l| (*l).to_owned()).collect()))
}

fn written(n: usize) -> Vec<Event> {
    (0..n)
        .flat_map(|w| {
            [
                Event::Prepared { write: w, result: Ok(Prepared::Previous(Value::Null)) },
                Event::Written { write: w, result: Ok(()) },
            ]
        })
        .collect()
}

/// The run at each step of a registration: (name, events after the start).
fn stages(id: &str) -> Vec<(&'static str, Vec<Event>)> {
    let through = |more: Vec<Event>| {
        let mut events = preflight();
        events.push(planned(id));
        events.push(previewed());
        events.extend(more);
        events
    };
    let mut checking = preflight();
    checking.truncate(2);
    vec![
        ("preflight", checking),
        ("plan", through(vec![])),
        ("writing", through([vec![Event::Typed("edge-eu-1".into())], written(4)].concat())),
        (
            "verify",
            through(
                [
                    vec![Event::Typed("edge-eu-1".into())],
                    written(7),
                    vec![Event::Progress { text: "1/2 Ready · config: not applied yet".into(), held: false }],
                ]
                .concat(),
            ),
        ),
        (
            "succeeded",
            through(
                [
                    vec![Event::Typed("edge-eu-1".into())],
                    written(7),
                    vec![
                        Event::Progress {
                            text: "all 2 Ready at their sources' revisions; the first revision took 6.2 s (policies 4.1 s, config 6.2 s)".into(),
                            held: true,
                        },
                        Event::Progress {
                            text: "cluster-kubeconfig names UID 5f0c, edge-eu-1's kube-system UID: fleetdeck joins it as the spoke edge-eu-1".into(),
                            held: true,
                        },
                    ],
                ]
                .concat(),
            ),
        ),
        (
            "failed",
            through(
                [
                    vec![Event::Typed("edge-eu-1".into())],
                    written(2),
                    vec![
                        Event::Prepared { write: 2, result: Ok(Prepared::Previous(Value::Null)) },
                        Event::Written {
                            write: 2,
                            result: Err(WriteError::Timeout {
                                message: "the token controller did not fill Secret kube-system/fleetdeck-hub-token on edge-eu-1 within 30 s".into(),
                            }),
                        },
                    ],
                ]
                .concat(),
            ),
        ),
    ]
}

fn show(model: &mut Model, run: Run) {
    let hub = model.fleet.hub_id().unwrap();
    let key = (RUN_NAMESPACE.to_owned(), run.object_name());
    model.fleet.data_mut(hub).unwrap().put_run(key, Arc::new(run));
}

#[test]
fn a_registration_at_each_step() {
    for (stage, events) in stages("20261201-100000-a1b2c3") {
        let mut m = model();
        let run = registration("20261201-100000-a1b2c3", 0, events);
        let end = 60;
        if run.state.finished() {
            show(&mut m, run);
        } else {
            // This session drives it: its prompt is shown where it asks.
            update(&mut m, Msg::Run(RunReport::Run(Box::new(run))));
        }
        update(&mut m, Msg::Action(Action::Pane(Pane::Runs)));
        update(&mut m, Msg::Action(Action::Open));
        for (w, h) in [(80, 24), (160, 48)] {
            insta::assert_snapshot!(format!("run_{stage}_{w}x{h}"), common::render(&m, t(end), w, h));
        }
    }
}

#[test]
fn the_runs_pane_newest_first() {
    let mut m = model();
    let stages = stages("x");
    for (i, (_, events)) in stages.into_iter().enumerate() {
        let id = format!("20261201-10{i:02}00-c0ffee");
        let mut run = registration(&id, i as i64 * 100, events);
        if i == 2 {
            // Its session is gone: no lock.
            run.lock = None;
        }
        show(&mut m, run);
    }
    update(&mut m, Msg::Action(Action::Pane(Pane::Runs)));
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("runs_{w}x{h}"), common::render(&m, t(700), w, h));
    }
}

/// The frame time of a runs pane of a thousand runs at 200x60 (a figure printed, the
/// budget is 4 ms; not asserted: this machine is shared).
#[test]
fn a_thousand_runs_draw_in_a_frame() {
    let mut m = model();
    let template = registration("x", 0, preflight());
    for i in 0..1000 {
        let mut run = template.clone();
        run.id = format!("20261201-{:06}-{i:06x}", i);
        run.started_at = t(i as i64);
        show(&mut m, run);
    }
    update(&mut m, Msg::Action(Action::Pane(Pane::Runs)));
    let frames: Vec<std::time::Duration> = (0..20)
        .map(|_| {
            let start = std::time::Instant::now();
            common::render(&m, t(2000), 200, 60);
            start.elapsed()
        })
        .collect();
    let mut sorted = frames.clone();
    sorted.sort();
    println!("runs pane, 1,000 runs, 200x60: median frame {:?}, max {:?}", sorted[10], sorted[19]);
    let screen = common::render(&m, t(2000), 200, 60);
    assert!(screen.contains("Runs · 1000 on the hub"), "{screen}");
}
