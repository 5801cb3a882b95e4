//! Registration through the real binary in a pseudo-terminal, on a simulated fleet served
//! by `fleetdeck sim` in its own process: by keys and the command line, watched live from a
//! second (read-only) session, killed with SIGKILL in its change set and taken over by a
//! new process, with the simulator's audit log proving no object was written twice; and a
//! staging candidate migrated by keys from its inventory to its report, and a production
//! one held by a PartiallyFailed backup, its staging gate and its degrading workload.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::pty::Pty;

const LIVE: Duration = Duration::from_secs(60);

/// `fleetdeck sim` with a candidate, writing its kubeconfigs and audit logs in a
/// temporary directory; stopped when dropped.
pub(crate) struct Sim {
    child: std::process::Child,
    pub(crate) dir: tempfile::TempDir,
}

impl Sim {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("register.toml");
        std::fs::write(
            &scenario,
            "name = \"register\"\n[fleet]\nspokes = 2\ncandidates = 1\nevents_every = \"1h\"\n[flux]\nrevision_every = \"1h\"\nreconcile_delay = \"1s..2s\"\n",
        )
        .unwrap();
        Self::serve(dir, scenario.to_str().unwrap())
    }

    /// A shipped scenario, by name.
    pub(crate) fn shipped(scenario: &str) -> Self {
        Self::serve(tempfile::tempdir().unwrap(), scenario)
    }

    fn serve(dir: tempfile::TempDir, scenario: &str) -> Self {
        let kubeconfig = dir.path().join("kc.yaml");
        let child = common::cli(
            &[
                "sim",
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--audit-dir",
                dir.path().join("audit").to_str().unwrap(),
                "--scenario",
                scenario,
            ],
            dir.path(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.path().join("kc.readonly.yaml").exists() {
            assert!(Instant::now() < deadline, "the simulator wrote no kubeconfig");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, dir }
    }

    pub(crate) fn kubeconfig(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn log(&self, context: &str) -> PathBuf {
        self.dir.path().join("audit").join(format!("{context}.log"))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for either text; true for the first.
fn either(pty: &Pty, first: &str, second: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let screen = pty.screen();
        if screen.contains(first) {
            return true;
        }
        if screen.contains(second) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("waited {limit:?} for {first:?} or {second:?}; the screen:\n{}", pty.screen());
}

#[test]
fn a_candidate_is_registered_by_keys_watched_killed_and_taken_over_without_a_second_write() {
    let sim = Sim::start();
    let data = sim.dir.path().join("operator-data");
    let data = data.to_str().unwrap();
    let kc = sim.kubeconfig("kc.yaml");
    let mut first = Pty::spawn(&["--kubeconfig", &kc], &[("XDG_DATA_HOME", data)], 120, 40);
    // Commands act once the hub's registrations are read: the row says what the context is.
    first.wait_for_row("edge-eu-1", &["candidate", "Live"], LIVE);
    let watcher = Pty::spawn(&["--read-only", "--kubeconfig", &sim.kubeconfig("kc.readonly.yaml")], &[], 120, 40);
    watcher.wait_for("edge-eu-1", LIVE);
    watcher.key("6");
    watcher.wait_for("Runs · 0 on the hub", Duration::from_secs(10));

    // The command line, with Tab completing the candidate's name.
    first.key(":");
    first.send("register ed");
    first.key("\t");
    first.wait_for(":register edge-eu-1", Duration::from_secs(5));
    first.key("\r");
    first.wait_for("type edge-eu-1 to write these 7 objects", Duration::from_secs(120));
    assert!(first.screen().contains("dry run: edge-eu-1 · create ServiceAccount kube-system/fleetdeck-hub"));
    // The other session sees the run waiting for its operator.
    watcher.wait_for("waiting", Duration::from_secs(10));
    assert!(watcher.screen().contains("register   edge-eu-1"), "{}", watcher.screen());

    // Confirmed, then killed in the middle of its writes.
    first.send("edge-eu-1");
    first.send("\r");
    let _ = either(&first, "written", "succeeded", Duration::from_secs(10));
    let killed = std::process::Command::new("kill").arg("-KILL").arg(first.pid().to_string()).status().unwrap();
    assert!(killed.success());
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    watcher.wait_for("interrupted", Duration::from_secs(10));

    // A new process takes it over: the runs pane, c, the cluster's name typed.
    let second = Pty::spawn(&["--kubeconfig", &kc], &[("XDG_DATA_HOME", data)], 120, 40);
    second.wait_for("edge-eu-1", LIVE);
    second.key("6");
    second.wait_for("interrupted", Duration::from_secs(10));
    second.key("c");
    second.wait_for("type edge-eu-1 to take the run over", Duration::from_secs(5));
    second.send("edge-eu-1");
    second.key("\r");
    // Killed before the confirmation took: the change set is previewed and confirmed again.
    if either(&second, "type edge-eu-1 to write", "State       succeeded", Duration::from_secs(120)) {
        second.send("edge-eu-1");
        second.key("\r");
    }
    second.wait_for("State       succeeded", Duration::from_secs(120));
    watcher.wait_for("succeeded", Duration::from_secs(10));
    second.key("\x1b");
    second.key("1");
    second.wait_for("Health ·", Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = second.screen();
        let row = screen.lines().find(|l| l.starts_with("edge-eu-1")).unwrap_or_default().to_owned();
        if row.contains("spoke") && row.contains("in sync") {
            break;
        }
        assert!(Instant::now() < deadline, "edge-eu-1 is a spoke in sync:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut created = common::creates(&sim.log("edge-eu-1"));
    created.extend(common::creates(&sim.log("hub")));
    let mut unique = created.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(created.len(), unique.len(), "an object was created twice: {created:?}");
    for object in [
        "serviceaccounts/fleetdeck-hub",
        "secrets/fleetdeck-hub-token",
        "secrets/cluster-kubeconfig",
        "kustomizations/policies",
    ] {
        assert!(created.iter().any(|c| c == object), "{object} in {created:?}");
    }
    second.key("q");
}

#[test]
fn a_staging_candidate_is_migrated_by_keys_from_inventory_to_report() {
    let sim = Sim::shipped("migration");
    let data = sim.dir.path().join("operator-data");
    let kc = sim.kubeconfig("kc.yaml");
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    let mut tui = Pty::spawn(
        &["--kubeconfig", &kc, "--audit-file", &format!("staging-eu-2={}", sim.log("staging-eu-2").display())],
        &env,
        120,
        40,
    );
    tui.wait_for_row("staging-eu-2", &["candidate", "Live"], LIVE);
    tui.key(":");
    tui.send("migrate st");
    tui.key("\t");
    tui.wait_for(":migrate staging-eu-2", Duration::from_secs(5));
    tui.key("\r");
    // The backup, previewed, then the registration's seven objects.
    tui.wait_for("type staging-eu-2 to write this object", Duration::from_secs(120));
    assert!(tui.screen().contains("create Backup velero/fleetdeck-premigration-staging-eu-2-"), "{}", tui.screen());
    tui.send("staging-eu-2");
    tui.send("\r");
    tui.wait_for("type staging-eu-2 to write these 7 objects", Duration::from_secs(120));
    tui.send("staging-eu-2");
    tui.send("\r");
    // The two attestations, each with a note.
    tui.wait_for("attest: the cluster's documentation", Duration::from_secs(120));
    tui.send("runbook page updated");
    tui.send("\r");
    tui.wait_for("attest: the on-call rotation", Duration::from_secs(10));
    tui.send("briefed the on-call");
    tui.send("\r");
    tui.wait_for("migrate staging-eu-2: succeeded", Duration::from_secs(120));
    // The report, in the data directory.
    let runs = data.join("fleetdeck").join("runs");
    let run = std::fs::read_dir(&runs).unwrap().next().expect("a run directory").unwrap().path();
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("# Migration of staging-eu-2"), "{report}");
    assert!(report.contains("\"briefed the on-call\""), "{report}");
    assert!(report.contains("the audit log shows no writes by anyone but fleetdeck"), "{report}");
    assert!(run.join("inventory.json").exists());
    tui.key("q");
    tui.wait_exit(Duration::from_secs(10)).expect("quits");
}

#[test]
fn a_production_candidate_holds_at_staging_first_until_a_typed_reason_overrides_it() {
    let sim = Sim::shipped("migration");
    let data = sim.dir.path().join("operator-data");
    let kc = sim.kubeconfig("kc.yaml");
    let mut tui = Pty::spawn(&["--kubeconfig", &kc], &[("XDG_DATA_HOME", data.to_str().unwrap())], 120, 40);
    tui.wait_for_row("production-eu-2", &["candidate", "Live"], LIVE);
    // `m` on the candidate's row of the health pane.
    tui.send("/production-eu-2");
    tui.key("\r");
    tui.key("m");
    tui.wait_for("type production-eu-2 to write this object", Duration::from_secs(120));
    tui.send("production-eu-2");
    tui.send("\r");
    tui.wait_for("step 6 failed: t retries it · o goes past it with a reason", Duration::from_secs(120));
    assert!(tui.screen().contains("no staging cluster (staging-*) has a succeeded migration run"), "{}", tui.screen());
    // Overridden with a reason, it goes on to the registration.
    tui.key("o");
    tui.wait_for("why go past \"test in staging first\"?", Duration::from_secs(5));
    tui.send("CHG-881 approved by the CAB");
    tui.key("\r");
    tui.wait_for("type production-eu-2 to write these 7 objects", Duration::from_secs(120));
    // The override is on the screen and in the record others read.
    tui.key("\u{1b}");
    tui.wait_for("aborted", Duration::from_secs(10));
    let out = common::cli(&["runs", "--json", "--kubeconfig", &kc], sim.dir.path()).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &runs["runs"][0];
    assert_eq!(run["workflow"], "migrate");
    assert_eq!(run["state"], "aborted");
    assert_eq!(run["overrides"][0]["reason"], "CHG-881 approved by the CAB");
    assert_eq!(run["overrides"][0]["step"], 6);
    tui.key("q");
    tui.wait_exit(Duration::from_secs(10)).expect("quits");
}

#[test]
fn a_partially_failed_backup_and_a_degrading_workload_hold_a_production_migration_with_their_evidence() {
    // Every backup PartiallyFailed; production-eu-2's payments/api degrades as soon as
    // the fleet's policies reach it.
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/migration.toml"),
    )
    .unwrap();
    scenario =
        scenario.replace("partial_rate = 0.0", "partial_rate = 1.0").replace("after = \"60s\"", "after = \"0s\"");
    let path = dir.path().join("migration.toml");
    std::fs::write(&path, scenario).unwrap();
    let sim = Sim::serve(dir, path.to_str().unwrap());
    let data = sim.dir.path().join("operator-data");
    let kc = sim.kubeconfig("kc.yaml");
    let mut tui = Pty::spawn(&["--kubeconfig", &kc], &[("XDG_DATA_HOME", data.to_str().unwrap())], 120, 40);
    tui.wait_for_row("production-eu-2", &["candidate", "Live"], LIVE);
    tui.key(":");
    tui.send("migrate production-eu-2");
    tui.key("\r");
    tui.wait_for("type production-eu-2 to write this object", Duration::from_secs(120));
    tui.send("production-eu-2");
    tui.send("\r");
    // The backup: held with Velero's counts until a reason is typed.
    tui.wait_for("step 4 failed", Duration::from_secs(120));
    let screen = tui.screen();
    assert!(screen.contains("PartiallyFailed") && screen.contains("errors"), "{screen}");
    tui.key("o");
    tui.wait_for("why go past \"the backup Completed\"?", Duration::from_secs(5));
    tui.send("CHG-9: the failed items are caches");
    tui.key("\r");
    tui.wait_for("step 6 failed", Duration::from_secs(120));
    tui.key("o");
    tui.wait_for("why go past \"test in staging first\"?", Duration::from_secs(5));
    tui.send("CHG-9: staging is covered by the same chart");
    tui.key("\r");
    tui.wait_for("type production-eu-2 to write these 7 objects", Duration::from_secs(120));
    tui.send("production-eu-2");
    tui.send("\r");
    // The degraded workload fails its check by name; the runbook allows no override.
    tui.wait_for("step 17 failed", Duration::from_secs(120));
    let screen = tui.screen();
    assert!(screen.contains("Deployment payments/api: 1/3 ready, it had 3/3"), "{screen}");
    assert!(!screen.contains("o goes past it"), "{screen}");
    tui.key("x");
    tui.wait_for("migrate production-eu-2: aborted", Duration::from_secs(10));
    tui.key("q");
    tui.wait_exit(Duration::from_secs(10)).expect("quits");
}
