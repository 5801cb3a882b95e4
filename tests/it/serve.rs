//! `fleetdeck serve` scraped by a real Prometheus (Debian's `prometheus`, started on a
//! loopback port): the target is up, the exposition parses, and a query of the probe
//! histogram's p95 returns a value per cluster; `/readyz` says ready once the fleet is
//! listed, `/healthz` answers at once. The shipped rules and scrape config pass
//! `promtool`, and the unreachable alert goes pending, then firing, for a spoke's outage.
//! Propagations, restores and watched changes land in their histograms; series survive
//! scrapes during relists and go with the registration, the CRD or the target they
//! came from.

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

/// Waits until `done` holds, failing with `what` and the last look after `limit`.
fn wait_for<T: std::fmt::Debug>(
    limit: Duration,
    what: &str,
    mut look: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let seen = look();
        if done(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}: {seen:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `serve` on `fleet`, ready, scraped every second by a Prometheus that has it up.
fn serving(fleet: &Fleet, dir: &Path) -> (Killed, Killed, u16) {
    let (serve_port, prom_port) = (port(), port());
    let serve = serve(fleet, dir, serve_port, &[]);
    wait_for(
        Duration::from_secs(60),
        "serve ready",
        || get(serve_port, "/readyz"),
        |r| r.as_ref().is_some_and(|(c, _)| *c == 200),
    );
    scrape_every_second(dir, serve_port, None);
    let prometheus = prometheus(dir, "prometheus.yml", prom_port);
    wait_for(
        Duration::from_secs(60),
        "the target up",
        || value(prom_port, "up{job=\"fleetdeck\"}"),
        |v| v.as_deref() == Some("1"),
    );
    (serve, prometheus, prom_port)
}

fn spokes(fleet: &Fleet) -> Vec<String> {
    fleet.clusters().iter().filter(|c| c.info.role == ClusterRole::Spoke).map(|c| c.name().to_owned()).collect()
}

fn velero(kind: &str) -> kube::discovery::ApiResource {
    kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", kind))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagations_restores_and_watched_changes_land_in_their_histograms() {
    use kube::api::{Api, DynamicObject, ListParams, PostParams};
    let fleet = common::live_fleet(2, common::quick()).await;
    let home = tempfile::tempdir().unwrap();
    let (_serve, _prometheus, prom) = serving(&fleet, home.path());
    let results = |q: &str| query(prom, q);
    // A revision published on the hub: one propagation per spoke, in the spoke's histogram,
    // and the revision current in the info metric.
    let revision = fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    let counts = wait_for(
        Duration::from_secs(60),
        "one propagation per spoke",
        || results("sum by (cluster) (fleetdeck_propagation_duration_seconds_count)"),
        |r| r.len() == 2 && r.iter().all(|s| s["value"][1] == "1"),
    );
    let mut clusters: Vec<&str> = counts.iter().map(|s| s["metric"]["cluster"].as_str().unwrap()).collect();
    clusters.sort_unstable();
    let mut expected = spokes(&fleet);
    expected.sort_unstable();
    assert_eq!(clusters, expected);
    // The simulated Flux reconciles within a second or two: well inside the 30 s target.
    let within = results("fleetdeck_propagation_duration_seconds_bucket{le=\"30.0\"} == 1");
    assert_eq!(within.len(), 2, "{within:?}");
    let current = wait_for(
        Duration::from_secs(10),
        "the new revision current",
        || results("fleetdeck_source_revision_info{current=\"true\"}"),
        |r| r.iter().any(|s| s["metric"]["revision"].as_str().is_some_and(|v| v.contains(&revision))),
    );
    let mut sources: Vec<&str> = current.iter().map(|s| s["metric"]["source"].as_str().unwrap()).collect();
    sources.sort_unstable();
    assert_eq!(
        sources,
        ["GitRepository/flux-system/fleet-policies", "OCIRepository/flux-system/platform-config"],
        "one current revision per source"
    );
    let applied = results(&format!("fleetdeck_source_revision_applied_spokes{{revision=~\".*{revision}.*\"}}"));
    assert_eq!(applied.first().map(|s| s["value"][1].clone()), Some("2".into()), "{applied:?}");
    // Watched changes reached the model, each with its lag.
    let lag = results("fleetdeck_watch_event_lag_seconds_count > 0");
    assert_eq!(lag.len(), 1, "{lag:?}");
    // A restore on a spoke, from a backup of its history: one observation, completed.
    let spoke = spokes(&fleet)[0].clone();
    let client = common::admin(&fleet, &spoke).await;
    let backups: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &velero("Backup"));
    let backup = backups
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|b| b.data["status"]["phase"] == "Completed")
        .expect("a completed backup in the history");
    let restore = serde_json::json!({"apiVersion": "velero.io/v1", "kind": "Restore", "metadata": {"name": "rto", "namespace": "velero"}, "spec": {"backupName": backup.metadata.name}});
    let restores: Api<DynamicObject> = Api::namespaced_with(client, "velero", &velero("Restore"));
    restores.create(&PostParams::default(), &serde_json::from_value(restore).unwrap()).await.unwrap();
    let rto = wait_for(
        Duration::from_secs(60),
        "the restore observed",
        || results(&format!("fleetdeck_restore_duration_seconds_count{{cluster=\"{spoke}\"}}")),
        |r| !r.is_empty(),
    );
    assert_eq!(rto.len(), 1, "{rto:?}");
    assert_eq!(rto[0]["metric"]["outcome"], "completed");
    assert_eq!(rto[0]["value"][1], "1");
    let took: f64 = value(prom, &format!("fleetdeck_restore_duration_seconds_sum{{cluster=\"{spoke}\"}}"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.5..10.0).contains(&took), "the simulated restore runs 1–2 s: {took}");
    // The restores of the history, finished before serve started, are not observed.
    assert!(results("fleetdeck_restore_duration_seconds_count").len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_survive_relists_and_go_with_what_they_describe() {
    use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
    let fleet = common::live_fleet(2, common::quick()).await;
    let home = tempfile::tempdir().unwrap();
    let (serve, _prometheus, prom) = serving(&fleet, home.path());
    let results = |q: &str| query(prom, q);
    let (a, b) = match spokes(&fleet).as_slice() {
        [a, b] => (a.clone(), b.clone()),
        other => panic!("two spokes: {other:?}"),
    };
    let storage_of = |c: &str| format!("fleetdeck_backup_storage_available{{cluster=\"{c}\"}}");
    let kustomizations_of = |c: &str| format!("fleetdeck_kustomization_state{{cluster=\"{c}\",state=\"in_sync\"}}");
    wait_for(
        Duration::from_secs(30),
        "a's storage and b's Kustomizations",
        || (results(&storage_of(&a)), results(&kustomizations_of(&b))),
        |(s, k)| !s.is_empty() && !k.is_empty(),
    );
    // A storm of 410s on a's watches: every resume is refused and the watches relist.
    let relists = |c: &str| {
        value(prom, &format!("sum(fleetdeck_watch_relists_total{{cluster=\"{c}\"}})"))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = relists(&a);
    let storm = Instant::now();
    let spoke_a = fleet.cluster(&a).unwrap();
    spoke_a.faults.update(|f| f.gone_storm = true);
    spoke_a.faults.drop_watches();
    wait_for(Duration::from_secs(60), "a's watches relisted", || relists(&a), |n| *n >= before + 5.0);
    spoke_a.faults.update(|f| f.gone_storm = false);
    std::thread::sleep(Duration::from_secs(2));
    // Every scrape through the storm held a's series: as many samples as scrapes.
    let window = storm.elapsed().as_secs() + 1;
    let samples = |q: &str| value(prom, &format!("count_over_time({q}[{window}s])"));
    let scrapes = samples("up{job=\"fleetdeck\"}");
    assert!(scrapes.as_deref().is_some_and(|n| n.parse::<u32>().unwrap() >= 3), "{scrapes:?}");
    assert_eq!(samples(&storage_of(&a)), scrapes, "a's storage series in every scrape of the relists");
    assert_eq!(samples(&format!("fleetdeck_cluster_up{{cluster=\"{a}\"}}")), scrapes);
    // b unregistered on the hub (its Kustomizations deleted): its Kustomization series go.
    let hub = common::admin(&fleet, "hub").await;
    let ks = kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(hub, &b, &ks);
    api.delete_collection(&DeleteParams::default(), &ListParams::default()).await.unwrap();
    wait_for(
        Duration::from_secs(30),
        "b's Kustomization series gone",
        || results(&format!("fleetdeck_kustomization_state{{cluster=\"{b}\"}}")),
        Vec::is_empty,
    );
    assert!(!results(&kustomizations_of(&a)).is_empty(), "a's stay");
    // Velero removed from a: its storage location's series go.
    spoke_a.remove_crd("backupstoragelocations.velero.io").unwrap();
    wait_for(Duration::from_secs(30), "a's storage series gone", || results(&storage_of(&a)), Vec::is_empty);
    assert!(!results(&storage_of(&b)).is_empty(), "b's stay");
    // serve gone: the target is down and its series are stale at once, not held for 5 m.
    drop(serve);
    wait_for(
        Duration::from_secs(30),
        "the target down",
        || value(prom, "up{job=\"fleetdeck\"}"),
        |v| v.as_deref() == Some("0"),
    );
    assert!(results("fleetdeck_cluster_up").is_empty(), "no series of a target that is down");
}
