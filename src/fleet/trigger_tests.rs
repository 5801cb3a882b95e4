use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::fleet::failure::{ErrorInfo, Failure};
use crate::fleet::probes::Sample;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Case {
    state: State,
    unready: crate::fleet::cluster::Store<ObjectKey, Timestamp>,
    violations: VecDeque<(Timestamp, i64)>,
    revision_at: Option<Timestamp>,
    probes: VecDeque<Sample>,
    propagations: Vec<Vec<(Timestamp, Option<Duration>)>>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            state: State::Live,
            unready: Default::default(),
            violations: VecDeque::new(),
            revision_at: None,
            probes: VecDeque::new(),
            propagations: Vec::new(),
        }
    }
}

impl Case {
    fn eval(&self, now: Timestamp) -> (Vec<Trigger>, Option<Timestamp>) {
        let facts = TriggerFacts {
            state: &self.state,
            unready: &self.unready,
            violations: &self.violations,
            revision_at: self.revision_at,
            probes: &self.probes,
            latency_target: ms(100),
            propagations: &self.propagations,
            propagation_target: Duration::from_secs(30),
        };
        evaluate(&facts, &TriggerSettings::default(), now)
    }

    fn one(&self, now: Timestamp) -> Option<Trigger> {
        let (mut triggers, _) = self.eval(now);
        assert!(triggers.len() <= 1, "{triggers:?}");
        triggers.pop()
    }
}

fn error(at: Timestamp) -> ErrorInfo {
    ErrorInfo::new(Failure::Timeout, "GET /readyz timed out", at)
}

fn key(ns: &str, name: &str) -> ObjectKey {
    (ns.to_owned(), name.to_owned())
}

#[test]
fn a_healthy_cluster_has_no_trigger() {
    assert_eq!(Case::default().eval(t(1000)), (vec![], None));
}

#[test]
fn disruption_fires_after_its_threshold_and_clears_with_recovery() {
    // (state since, seconds later, firing?)
    let table = [(0, 30, false), (0, 119, false), (0, 120, true), (0, 600, true)];
    for (since, later, firing) in table {
        let case = Case { state: State::Unreachable { since: t(since), error: error(t(since)) }, ..Case::default() };
        let trig = case.one(t(since + later)).expect("watching at least");
        assert_eq!((trig.kind, trig.firing), (TriggerKind::Disruption, firing), "after {later}s");
        assert_eq!(trig.since, t(since));
        assert_eq!(trig.detail, "unreachable");
    }
    let (_, changes) =
        Case { state: State::Degraded { since: t(0), error: error(t(0)) }, ..Case::default() }.eval(t(30));
    assert_eq!(changes, Some(t(120)), "the frame that turns it red is asked for");
    assert_eq!(Case::default().one(t(600)), None, "Live again: cleared");
}

#[test]
fn workloads_short_of_ready_replicas_count_once_over_the_threshold() {
    let mut unready = crate::fleet::cluster::Store::new();
    unready.insert(key("payments", "api"), t(0));
    unready.insert(key("shop", "web"), t(100));
    unready.insert(key("shop", "cart"), t(10));
    let case = Case { unready, ..Case::default() };
    assert!(!case.one(t(100)).unwrap().firing, "none short for 2m yet");
    assert_eq!(case.one(t(125)).unwrap().detail, "payments/api not ready", "one short for 2m");
    let trig = case.one(t(130)).unwrap();
    assert!(trig.firing);
    assert_eq!(trig.detail, "2 workloads not ready");
    let trig = case.one(t(240)).unwrap();
    assert_eq!(
        trig.line("production-eu-1", t(240)),
        "production-eu-1 · service disruption for 4m · 3 workloads not ready"
    );
    let one = Case { unready: [(key("payments", "api"), t(0))].into_iter().collect(), ..Case::default() }
        .one(t(130))
        .unwrap();
    assert_eq!(one.detail, "payments/api not ready");
    let both = Case {
        state: State::Degraded { since: t(0), error: error(t(0)) },
        unready: [(key("payments", "api"), t(0))].into_iter().collect(),
        ..Case::default()
    };
    assert_eq!(both.one(t(130)).unwrap().detail, "degraded · payments/api not ready");
}

#[test]
fn new_violations_are_counted_from_the_count_before_the_revision() {
    // Points: 2 failed results from the start, the revision at 100, 5 at 110, 6 at 130.
    let violations: VecDeque<_> = [(t(0), 2), (t(110), 5), (t(130), 6)].into();
    let case = Case { violations: violations.clone(), revision_at: Some(t(100)), ..Case::default() };
    let trig = case.one(t(150)).unwrap();
    assert_eq!((trig.kind, trig.firing, trig.since), (TriggerKind::Security, false, t(110)));
    assert_eq!(trig.detail, "4 new policy violations since the revision");
    assert!(case.one(t(170)).unwrap().firing, "a minute over");
    // The same counts before the revision arrived are no news.
    assert_eq!(Case { violations, revision_at: Some(t(200)), ..Case::default() }.one(t(400)), None);
    // Back at the baseline: cleared.
    let fixed: VecDeque<_> = [(t(0), 2), (t(110), 5), (t(300), 2)].into();
    assert_eq!(Case { violations: fixed, revision_at: Some(t(100)), ..Case::default() }.one(t(400)), None);
    // Fleetdeck started after the revision: the first count it saw is the baseline.
    let late: VecDeque<_> = [(t(500), 3), (t(510), 4)].into();
    let trig = Case { violations: late, revision_at: Some(t(100)), ..Case::default() }.one(t(600)).unwrap();
    assert_eq!((trig.detail.as_str(), trig.firing), ("1 new policy violation since the revision", true));
}

fn probes(from: i64, to: i64, every: i64, took: impl Fn(i64) -> u64) -> VecDeque<Sample> {
    (from..to).step_by(every as usize).map(|s| Sample::new(t(s), Ok(ms(took(s))))).collect()
}

#[test]
fn latency_counts_consecutive_failed_checks_against_the_threshold() {
    // Checks are 30 s intervals aligned to the clock; t(0) is aligned (1.8e9 % 30 == 0).
    // (slow from, now, failed checks, firing)
    let table = [(0, 29, 0, false), (0, 61, 2, false), (0, 151, 5, true), (60, 151, 3, false), (60, 300, 5, true)];
    for (slow_from, now, failed, firing) in table {
        let case = Case { probes: probes(-300, now, 5, |s| if s >= slow_from { 400 } else { 2 }), ..Case::default() };
        let (triggers, changes) = case.eval(t(now));
        let trig = triggers.iter().find(|t| t.kind == TriggerKind::Latency);
        match failed {
            0 => assert!(trig.is_none(), "now {now}"),
            n => {
                let trig = trig.unwrap();
                assert_eq!(trig.firing, firing, "now {now}");
                assert!(trig.detail.ends_with(&format!("failed checks {n}/5")), "{}", trig.detail);
                assert_eq!(trig.since, t(if firing { now - now % 30 - 150 } else { slow_from }));
            }
        }
        if failed > 0 && !firing {
            assert_eq!(changes, Some(t(now - now % 30 + 30)), "the next check's end");
        }
    }
    // One good interval in between resets the counter (Flagger's failedChecks do not).
    let gap = probes(-300, 151, 5, |s| if (60..90).contains(&s) { 2 } else { 400 });
    let (triggers, _) = Case { probes: gap, ..Case::default() }.eval(t(151));
    assert!(triggers[0].detail.ends_with("failed checks 2/5"));
    // An interval with no answer is not a pass: the run stops there (the disruption
    // trigger judges unanswered probes).
    let silent = probes(-300, 151, 5, |_| 400).into_iter().filter(|p| p.at < t(60) || p.at >= t(90)).collect();
    let (triggers, _) = Case { probes: silent, ..Case::default() }.eval(t(151));
    assert!(triggers[0].detail.ends_with("failed checks 2/5"));
}

#[test]
fn probes_fleetdeck_delayed_are_no_check() {
    let mut slow = probes(-300, 151, 5, |_| 400);
    for p in &mut slow {
        p.busy = true;
    }
    assert_eq!(Case { probes: slow, ..Case::default() }.eval(t(151)).0, vec![]);
}

#[test]
fn propagation_fires_after_slow_revisions_in_a_row() {
    let s = |n: u64| Some(Duration::from_secs(n));
    // (times of one Kustomization's revisions, oldest first; slow run; firing)
    let table: [(Vec<Option<Duration>>, usize, bool); 5] = [
        (vec![s(5), s(40)], 1, false),
        (vec![s(40), s(45), s(50)], 3, true),
        (vec![s(40), s(45), s(50), s(5)], 0, false),
        (vec![s(40), None, s(50), s(60)], 2, false),
        (vec![s(40), s(45), s(50), s(60), s(70)], 3, true),
    ];
    for (times, run, firing) in table {
        let times: Vec<_> = times.into_iter().enumerate().map(|(i, d)| (t(i as i64 * 600), d)).collect();
        let newest = times.len() as i64 - 1;
        let case = Case { propagations: vec![vec![(t(0), s(1))], times], ..Case::default() };
        let trig = case.one(t(10_000));
        match run {
            0 => assert_eq!(trig, None),
            n => {
                let trig = trig.unwrap();
                assert_eq!(trig.firing, firing);
                assert_eq!(trig.detail, format!("over 30 s for {n}/3 revisions in a row"));
                assert_eq!(trig.since, t((newest + 1 - n as i64) * 600), "since the run's first revision");
            }
        }
    }
}
