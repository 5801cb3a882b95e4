//! `fleetdeck serve` scraped by a real Prometheus (Debian's `prometheus`, started on a
//! loopback port): the target is up, the exposition parses, and a query of the probe
//! histogram's p95 returns a value per cluster; `/readyz` says ready once the fleet is
//! listed, `/healthz` answers at once. The shipped rules and scrape config pass
//! `promtool`, and the unreachable alert goes pending, then firing, for a spoke's outage.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::local::{Killed, binary, get, port, prometheus, query};
use fleetdeck::sim::{ClusterRole, Fleet, OutageMode, Scenario};

/// `fleetdeck serve` on `port` with `extra` flags, on `fleet`'s kubeconfig written in `dir`.
fn serve(fleet: &Fleet, dir: &Path, port: u16, extra: &[&str]) -> Killed {
    let kubeconfig = dir.join("kubeconfig.yaml");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", &listen, "--kubeconfig", kubeconfig.to_str().unwrap()];
    args.extend_from_slice(extra);
    Killed(
        common::cli(&args, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A prometheus.yml scraping `serve_port` every second, with `rules` (a file name) if any.
fn scrape_every_second(dir: &Path, serve_port: u16, rules: Option<&str>) {
    let rules = rules.map(|r| format!("rule_files:\n  - {r}\n")).unwrap_or_default();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rules}scrape_configs:\n  - job_name: fleetdeck\n    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n"
        ),
    )
    .unwrap();
}

/// The first result's value of an instant query.
fn value(port: u16, q: &str) -> Option<String> {
    query(port, q).first()?["value"][1].as_str().map(str::to_owned)
}

fn promtool(args: &[&str], dir: &std::path::Path) -> String {
    let binary = binary(&["promtool"], "prometheus", "the shipped rules are checked with promtool");
    let out = std::process::Command::new(binary).args(args).current_dir(dir).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?}: {said}");
    said
}

#[test]
fn the_shipped_rules_and_scrape_config_pass_promtool() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prometheus");
    let said = promtool(&["check", "rules", "fleetdeck-rules.yaml"], &dir);
    assert!(said.contains("SUCCESS: 11 rules found"), "{said}");
    promtool(&["check", "config", "scrape.yaml"], &dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_outage_makes_the_unreachable_alert_pending_then_firing() {
    let fleet = common::live_fleet(2, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let config = dir.join("fleetdeck.toml");
    std::fs::write(&config, "[probe]\ninterval = \"500ms\"\n[slo]\nunreachable_after = \"2s\"\n").unwrap();
    let (serve_port, prom_port) = (port(), port());
    let _serve = serve(&fleet, dir, serve_port, &["--config", config.to_str().unwrap()]);
    // The test's copy of the shipped rules, with a short `for`.
    let shipped = include_str!("../../assets/prometheus/fleetdeck-rules.yaml");
    let rules = shipped.replace(
        "expr: fleetdeck_cluster_up == 0\n        for: 2m",
        "expr: fleetdeck_cluster_up == 0\n        for: 4s",
    );
    assert_ne!(rules, shipped, "the unreachable rule's `for` is where the test expects it");
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    scrape_every_second(dir, serve_port, Some("rules.yaml"));
    let _prometheus = prometheus(dir, "prometheus.yml", prom_port);
    let alerts = |state: &str| {
        query(prom_port, &format!("ALERTS{{alertname=\"FleetdeckSpokeUnreachable\",alertstate=\"{state}\"}}"))
    };
    let up = |cluster: &str| value(prom_port, &format!("fleetdeck_cluster_up{{cluster=\"{cluster}\"}}"));
    let spoke = fleet.clusters().iter().find(|c| c.info.role == ClusterRole::Spoke).unwrap().name().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while up(&spoke).as_deref() != Some("1") {
        assert!(Instant::now() < deadline, "{spoke} never up in Prometheus");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(alerts("pending").is_empty() && alerts("firing").is_empty(), "no alert while every spoke answers");
    fleet.cluster(&spoke).unwrap().faults.update(|f| f.outage = Some(OutageMode::Refused));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending = false;
    loop {
        if !pending && alerts("pending").iter().any(|a| a["metric"]["cluster"] == spoke.as_str()) {
            pending = true;
        }
        let firing = alerts("firing");
        if firing.iter().any(|a| a["metric"]["cluster"] == spoke.as_str()) {
            assert!(pending, "firing without being pending first (for: 4s): {firing:?}");
            assert_eq!(firing[0]["metric"]["severity"], "critical");
            break;
        }
        assert!(Instant::now() < deadline, "the unreachable alert did not fire for {spoke}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_serve_and_queries_the_probe_histograms_p95_per_cluster() {
    let fleet = common::live_fleet(2, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (serve_port, prom_port) = (port(), port());
    let serve = serve(&fleet, dir, serve_port, &["--shard", "eu"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(serve_port, "/healthz").is_none_or(|(c, _)| c != 200) {
        assert!(Instant::now() < deadline, "serve did not answer /healthz");
        std::thread::sleep(Duration::from_millis(100));
    }
    while get(serve_port, "/readyz").is_none_or(|(c, _)| c != 200) {
        assert!(Instant::now() < deadline, "serve not ready: {:?}", get(serve_port, "/readyz"));
        std::thread::sleep(Duration::from_millis(200));
    }
    scrape_every_second(dir, serve_port, None);
    let _prometheus = prometheus(dir, "prometheus.yml", prom_port);
    let results = |q: &str| query(prom_port, q);
    let deadline = Instant::now() + Duration::from_secs(90);
    // The target is up and its exposition parses (a scrape that does not parse is down).
    while !results("up{job=\"fleetdeck\"} == 1").iter().any(|r| r["metric"]["job"] == "fleetdeck") {
        assert!(Instant::now() < deadline, "the target never came up: {:?}", results("up"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let samples = value(prom_port, "scrape_samples_scraped{job=\"fleetdeck\"}");
    assert!(samples.as_deref().is_some_and(|v| v != "0"), "{samples:?}");
    // The probes' p95 per cluster, from the histogram, with the shard's label.
    let p95 =
        "histogram_quantile(0.95, sum by (cluster, shard, le) (rate(fleetdeck_api_probe_duration_seconds_bucket[1m])))";
    let got = loop {
        let got = results(p95);
        let valued = got
            .iter()
            .filter(|r| r["value"][1].as_str().is_some_and(|v| v.parse::<f64>().is_ok_and(f64::is_finite)))
            .count();
        if valued == fleet.clusters().len() {
            break got;
        }
        assert!(Instant::now() < deadline, "no p95 for every cluster: {got:?}");
        std::thread::sleep(Duration::from_secs(1));
    };
    for r in &got {
        assert_eq!(r["metric"]["shard"], "eu");
        let seconds: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        assert!(seconds > 0.0 && seconds < 1.0, "{r}");
    }
    let live = results("fleetdeck_cluster_state{state=\"live\"} == 1");
    assert_eq!(live.len(), fleet.clusters().len(), "every cluster live: {live:?}");
    // fleetdeck's own: relists per cluster and kind, storage locations from the model.
    let relists = results("fleetdeck_watch_relists_total{kind=\"nodes\"}");
    assert_eq!(relists.len(), fleet.clusters().len(), "{relists:?}");
    assert!(!results("fleetdeck_backup_storage_available == 1").is_empty());
    // Per spoke and Kustomization: two spokes of two Kustomizations each, in sync.
    let in_sync = results("fleetdeck_kustomization_state{state=\"in_sync\"} == 1");
    assert_eq!(in_sync.len(), 4, "{in_sync:?}");
    assert_eq!(results("fleetdeck_kustomization_behind_source_seconds == 0").len(), 4);
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_and_a_bearer_token_prometheus_scrapes_only_with_the_token() {
    let fleet = common::live_fleet(1, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("token"), "s3cret-token\n").unwrap();
    std::fs::write(dir.join("wrong"), "not-the-token\n").unwrap();
    let config = dir.join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\ntls_cert = \"{0}/tls.crt\"\ntls_key = \"{0}/tls.key\"\nbearer_token_file = \"{0}/token\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let (serve_port, prom_port) = (port(), port());
    let _serve = serve(&fleet, dir, serve_port, &["--config", config.to_str().unwrap()]);
    let job = |name: &str, token: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: tls.crt\n      server_name: localhost\n    authorization:\n      credentials_file: {token}\n    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n"
        )
    };
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
            job("with-token", "token"),
            job("wrong-token", "wrong")
        ),
    )
    .unwrap();
    let _prometheus = prometheus(dir, "prometheus.yml", prom_port);
    let up = |job: &str| value(prom_port, &format!("up{{job=\"{job}\"}}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while up("with-token").as_deref() != Some("1") || up("wrong-token").is_none() {
        assert!(Instant::now() < deadline, "scrapes: with {:?}, wrong {:?}", up("with-token"), up("wrong-token"));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(up("wrong-token").as_deref(), Some("0"), "a wrong token is refused");
    // The scrape error Prometheus records says why.
    let targets = get(prom_port, "/api/v1/targets").map(|(_, b)| b).unwrap_or_default();
    assert!(targets.contains("401"), "{targets}");
}
