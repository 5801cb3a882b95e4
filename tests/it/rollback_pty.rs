//! The rollback through the real binary in a pseudo-terminal, on the `bad-revision`
//! scenario served by `fleetdeck sim` in its own process: the triggers fire with no key
//! pressed, the rollback is run by keys (killed with SIGKILL in its restore and taken
//! over by a new process) to a confirmed recovery with its time to recovery, a real
//! Alertmanager (Debian's `prometheus-alertmanager`) and a local webhook receiver get
//! the notification, and `:release` points the spoke back at the shared source.

use crate::common;
use crate::runs_pty::Sim;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::local::{Killed, binary, get, port};
use common::pty::Pty;

/// A real Alertmanager on a loopback port, stopped when dropped.
struct Alertmanager {
    _process: Killed,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Self {
        let binary = binary(
            &["prometheus-alertmanager", "alertmanager"],
            "prometheus-alertmanager",
            "the notification test needs a real Alertmanager",
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, "route:\n  receiver: hold\nreceivers:\n  - name: hold\n").unwrap();
        let port = port();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let am = Self { _process: Killed(child), port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(port, "/-/ready").is_none_or(|(code, _)| code != 200) {
            assert!(Instant::now() < deadline, "Alertmanager did not get ready on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn alerts(&self) -> serde_json::Value {
        let (_, body) = get(self.port, "/api/v2/alerts").expect("Alertmanager answers");
        serde_json::from_str(&body).unwrap_or_default()
    }
}

/// A webhook receiver on loopback: answers 200 to every POST and keeps the bodies.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/rollback", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        kept.lock().unwrap().push(body.to_owned());
                        break;
                    }
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

#[test]
fn a_bad_revision_fires_the_triggers_and_a_rollback_by_keys_recovers_the_spoke() {
    let alertmanager = Alertmanager::start();
    let (webhook, received) = receiver();
    let sim = Sim::shipped("bad-revision");
    let dir = sim.dir.path();
    let data = dir.join("operator-data");
    let data = data.to_str().unwrap();
    let config = dir.join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[rollback]\nconfirm_for = \"5s\"\n[rollback.triggers]\ndisruption_after = \"20s\"\nviolations_for = \"10s\"\nlatency_checks = 3\nlatency_interval = \"10s\"\n[notify]\nalertmanager = \"{}\"\nwebhook = \"{webhook}\"\n",
            alertmanager.url()
        ),
    )
    .unwrap();
    let kc = sim.kubeconfig("kc.yaml");
    let args = ["--kubeconfig", kc.as_str(), "--config", config.to_str().unwrap()];
    let env = [("XDG_DATA_HOME", data)];
    let mut tui = Pty::spawn(&args, &env, 140, 45);
    tui.wait_for("production-eu-1", Duration::from_secs(60));

    // The bad revision lands 40 s after the start; the disruption trigger fires 20 s
    // after its Deployments broke, with no key pressed.
    tui.wait_for("rollback suggested: production-eu-1", Duration::from_secs(150));
    assert!(tui.screen().contains("! roll back"), "{}", tui.screen());
    // A one-shot check has no history (the security and latency triggers need one), but
    // it sees the disruption once the Deployments have been broken for its threshold.
    let check = || {
        let out = common::cli(&["check", "--json", "--kubeconfig", &kc, "--config", config.to_str().unwrap()], dir)
            .output()
            .unwrap();
        (out.status.code(), serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (code, report) = loop {
        let (code, report) = check();
        if report["triggers"].as_array().is_some_and(|t| !t.is_empty()) || Instant::now() > deadline {
            break (code, report);
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(code, Some(1), "a firing trigger makes check exit 1: {report}");
    let trigger = &report["triggers"][0];
    assert_eq!(
        (trigger["cluster"].as_str(), trigger["trigger"].as_str()),
        (Some("production-eu-1"), Some("disruption"))
    );
    assert!(trigger["line"].as_str().unwrap().contains("workloads not ready"), "{report}");

    // `!` takes the trigger's cluster; the target check passes, the incident is typed.
    tui.key("!");
    tui.wait_for("attest: incident response", Duration::from_secs(30));
    tui.send("INC-4711 payments down after the policies rollout");
    tui.key("\r");
    tui.wait_for("type production-eu-1 to write these 2 objects", Duration::from_secs(30));
    assert!(tui.screen().contains("suspend"), "{}", tui.screen());
    tui.send("production-eu-1");
    tui.key("\r");
    // Notified, then the restore previewed.
    tui.wait_for("type production-eu-1 to write this object", Duration::from_secs(30));
    tui.send("production-eu-1");
    tui.key("\r");
    // Written: the wait reads the Restore's phase.
    tui.wait_for("Restore fleetdeck-rollback-production-eu-1", Duration::from_secs(20));

    // Killed in the restore's wait, taken over by a new process.
    let killed = std::process::Command::new("kill").arg("-KILL").arg(tui.pid().to_string()).status().unwrap();
    assert!(killed.success());
    tui.wait_exit(Duration::from_secs(10)).expect("killed");
    let tui = Pty::spawn(&args, &env, 140, 45);
    tui.wait_for("production-eu-1", Duration::from_secs(60));
    tui.key("6");
    tui.wait_for("interrupted", Duration::from_secs(10));
    tui.key("c");
    tui.wait_for("type production-eu-1 to take the run over", Duration::from_secs(5));
    tui.send("production-eu-1");
    tui.key("\r");

    // The revert: the policies pinned to the revision before the bad one, config resumed.
    tui.wait_for("type production-eu-1 to write these 3 objects", Duration::from_secs(60));
    assert!(tui.screen().contains("fleet-policies-pin-production-eu-1"), "{}", tui.screen());
    tui.send("production-eu-1");
    tui.key("\r");
    tui.wait_for("rollback production-eu-1: succeeded", Duration::from_secs(150));
    tui.wait_for("time to recovery", Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    // The red line (below the header), not the run's record of what it answered.
    let red_line = |screen: String| screen.lines().nth(1).is_some_and(|l| l.starts_with("rollback"));
    while red_line(tui.screen()) {
        assert!(Instant::now() < deadline, "the trigger did not clear:\n{}", tui.screen());
        std::thread::sleep(Duration::from_millis(200));
    }

    // The notification reached Alertmanager and the webhook.
    let alerts = alertmanager.alerts();
    let ours = alerts.as_array().into_iter().flatten().find(|a| a["labels"]["alertname"] == "FleetdeckRollback");
    let ours = ours.unwrap_or_else(|| panic!("no FleetdeckRollback alert in Alertmanager: {alerts}"));
    assert_eq!(ours["labels"]["cluster"], "production-eu-1");
    assert_eq!(ours["annotations"]["incident"], "INC-4711");
    let bodies = received.lock().unwrap().clone();
    assert!(bodies.iter().any(|b| b.contains("\"rollback-started\"") && b.contains("INC-4711")), "{bodies:?}");

    // The propagation pane says the spoke is pinned; :release returns it.
    tui.key("3");
    tui.wait_for("pinned to", Duration::from_secs(10));
    tui.key(":");
    tui.send("release production-eu-1");
    tui.key("\r");
    tui.wait_for("type production-eu-1 to write these 2 objects", Duration::from_secs(30));
    tui.send("production-eu-1");
    tui.key("\r");
    tui.wait_for("release production-eu-1: succeeded", Duration::from_secs(90));
    tui.key("3");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tui.screen().contains("pinned to") {
        assert!(Instant::now() < deadline, "still pinned after the release:\n{}", tui.screen());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The time to recovery is in check's JSON too.
    let (_, report) = check();
    let recovered = &report["recoveries"][0];
    assert_eq!(recovered["cluster"], "production-eu-1", "{report}");
    assert!(recovered["seconds"].as_u64().is_some_and(|s| s > 0));
}
