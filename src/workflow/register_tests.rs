use super::*;
use crate::fleet::run::{Session, Workflow};
use jiff::Timestamp;

fn run(workflow: Workflow, facts: &[(&str, &str)]) -> Run {
    let t: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let by = Session { user: "alice".into(), host: "laptop".into(), pid: 7, id: "s".into() };
    let mut run = Run::new("r1", workflow, ("edge-eu-1", "edge-eu-1", "hub"), vec![], by, t);
    run.facts = facts.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    run
}

#[test]
fn versions_within_one_minor_of_the_hub_pass() {
    assert_eq!(version_skew("v1.33.4", "v1.33.2").verdict, Verdict::Pass);
    assert_eq!(version_skew("v1.32.8", "v1.33.2").verdict, Verdict::Pass);
    assert_eq!(version_skew("v1.31.0", "v1.33.2").verdict, Verdict::Fail);
    assert_eq!(version_skew("v1.34.1-eks-1", "v1.33.2").verdict, Verdict::Pass);
    assert_eq!(version_skew("v2.33.0", "v1.33.2").verdict, Verdict::Fail);
    assert_eq!(version_skew("weird", "v1.33.2").verdict, Verdict::Warn);
}

#[test]
fn servers_the_hub_likely_cannot_reach_warn() {
    let none: &[String] = &[];
    for server in
        ["https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443", "https://kind-control-plane:6443"]
    {
        assert_eq!(server_reach(server, none).verdict, Verdict::Warn, "{server}");
    }
    assert_eq!(server_reach("https://api.edge-eu-1.example.com", none).verdict, Verdict::Pass);
    assert_eq!(server_reach("https://10.0.0.4:6443", none).verdict, Verdict::Pass);
    let hosts = vec!["api.lab.example".to_owned()];
    assert_eq!(server_reach("https://api.lab.example:6443", &hosts).verdict, Verdict::Warn);
}

#[test]
fn spoke_names_are_dns_labels() {
    assert!(dns_label("edge-eu-1").is_ok());
    for bad in ["", "Edge", "edge_eu", "-edge", "edge-", &"a".repeat(64), "kind-kind.local"] {
        assert!(dns_label(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_cluster_registered_under_another_name_fails_the_identity_check() {
    let registered = vec![("staging-eu-1".to_owned(), "u-1".to_owned()), ("edge-eu-1".to_owned(), "u-2".to_owned())];
    let e = identity("edge-eu-1", "u-1", &registered);
    assert_eq!(e.verdict, Verdict::Fail);
    assert!(e.text.contains("as staging-eu-1"), "{}", e.text);
    assert_eq!(identity("edge-eu-1", "u-2", &registered).verdict, Verdict::Pass);
    assert_eq!(identity("edge-eu-1", "u-3", &registered).verdict, Verdict::Pass);
}

#[test]
fn templates_render_with_the_spoke_and_environment_and_bad_ones_are_named() {
    let settings = Settings::default();
    let rendered = render(&settings.templates, "edge-eu-1", "edge").unwrap();
    assert_eq!(rendered.len(), 2);
    assert_eq!(rendered[0]["metadata"]["namespace"], "edge-eu-1");
    assert_eq!(rendered[0]["spec"]["path"], "./policies/edge");
    assert_eq!(rendered[0]["spec"]["kubeConfig"]["secretRef"]["name"], KUBECONFIG_SECRET);
    let sources = sources_of(&rendered);
    assert_eq!(
        sources,
        vec![
            ("GitRepository".to_owned(), "flux-system".to_owned(), "fleet-policies".to_owned()),
            ("OCIRepository".to_owned(), "flux-system".to_owned(), "platform-config".to_owned())
        ]
    );
    let local = vec![(
        "local.yaml".to_owned(),
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: x}\nspec: {}\n".to_owned(),
    )];
    assert!(render(&local, "a", "b").unwrap_err().contains("local.yaml: spec.kubeConfig.secretRef.name"));
    let broken = vec![("broken.yaml".to_owned(), "kind: [".to_owned())];
    assert!(render(&broken, "a", "b").unwrap_err().starts_with("template broken.yaml"));
}

#[test]
fn the_registration_plan_writes_the_spoke_first_and_never_holds_the_token() {
    let facts = [
        ("environment", "edge"),
        ("uid", "u-1"),
        ("ca_sha256", "ab12"),
        ("server", "https://10.0.0.4:6443"),
        ("ca_data", "Q0E="),
    ];
    let run = run(Workflow::Register, &facts);
    let writes = plan_register(&run, &Settings::default()).unwrap();
    let got: Vec<String> = writes.iter().map(PlannedWrite::label).collect();
    assert_eq!(
        got,
        vec![
            "create ServiceAccount kube-system/fleetdeck-hub on edge-eu-1",
            "create ClusterRoleBinding fleetdeck-hub-cluster-admin on edge-eu-1",
            "create Secret kube-system/fleetdeck-hub-token on edge-eu-1",
            "create Namespace edge-eu-1 on hub",
            "create Secret edge-eu-1/cluster-kubeconfig on hub",
            "create Kustomization edge-eu-1/policies on hub",
            "create Kustomization edge-eu-1/config on hub",
        ]
    );
    assert!(writes.iter().all(|w| w.body["metadata"]["labels"][RUN_LABEL] == "r1"), "every object names its run");
    assert!(matches!(writes[2].settle, Some(Settle::TokenFilled { .. })));
    let secret = &writes[4];
    assert!(secret.body.get("data").is_none(), "the kubeconfig is filled at the moment of writing");
    assert!(matches!(&secret.fill, Some(Fill::Kubeconfig { server, .. }) if server == "https://10.0.0.4:6443"));
    assert_eq!(secret.body["metadata"]["annotations"][UID_ANNOTATION], "u-1");
    assert_eq!(secret.body["metadata"]["annotations"][REGISTERED_BY_ANNOTATION], "alice@laptop");
    assert_eq!(writes[3].body["metadata"]["labels"]["fleetdeck.io/environment"], "edge");

    let missing = run_with_facts(&facts[..2]);
    assert!(plan_register(&missing, &Settings::default()).unwrap_err().contains("ca_sha256"));
}

fn run_with_facts(facts: &[(&str, &str)]) -> Run {
    run(Workflow::Register, facts)
}

#[test]
fn unregistration_stops_pruning_before_it_deletes() {
    let ks =
        |n: &str| ObjectRef::new("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations", "edge-eu-1", n);
    let kustomizations = list_fact(&[ks("policies"), ks("config")]);
    let hub = list_fact(&[
        ObjectRef::new("v1", "Secret", "secrets", "edge-eu-1", KUBECONFIG_SECRET),
        ObjectRef::new("v1", "Namespace", "namespaces", "", "edge-eu-1"),
    ]);
    let spoke = list_fact(&[ObjectRef::new("v1", "ServiceAccount", "serviceaccounts", "kube-system", "fleetdeck-hub")]);
    let run = run(
        Workflow::Unregister,
        &[("kustomizations", &kustomizations), ("hub_objects", &hub), ("spoke_objects", &spoke)],
    );
    let got: Vec<String> = plan_unregister(&run).unwrap().iter().map(PlannedWrite::label).collect();
    assert_eq!(
        got,
        vec![
            "patch Kustomization edge-eu-1/policies on hub",
            "patch Kustomization edge-eu-1/config on hub",
            "delete Kustomization edge-eu-1/policies on hub",
            "delete Kustomization edge-eu-1/config on hub",
            "delete Secret edge-eu-1/cluster-kubeconfig on hub",
            "delete Namespace edge-eu-1 on hub",
            "delete ServiceAccount kube-system/fleetdeck-hub on edge-eu-1",
        ]
    );
    assert!(plan_unregister(&run_with_facts(&[])).is_err());
}

#[test]
fn kustomizations_are_ready_at_their_sources_revisions() {
    let s = |n: &str, r: bool, a: &str, src: &str, t: Option<f64>| (n.to_owned(), r, a.to_owned(), src.to_owned(), t);
    let (text, held) = kustomizations_ready(&[
        s("policies", true, "main@sha1:1", "main@sha1:1", Some(4.1)),
        s("config", false, "", "v2", None),
    ]);
    assert!(!held);
    assert_eq!(text, "1/2 Ready · config: not applied yet");
    let (text, held) = kustomizations_ready(&[s("policies", true, "main@sha1:1", "main@sha1:2", Some(4.1))]);
    assert!(!held);
    assert!(text.contains("at main@sha1:1, the source at main@sha1:2"));
    let (text, held) =
        kustomizations_ready(&[s("policies", true, "a", "a", Some(4.1)), s("config", true, "b", "b", Some(6.25))]);
    assert!(held);
    assert!(text.contains("the first revision took 6.2 s (policies 4.1 s, config 6.2 s)"), "{text}");
    assert!(!kustomizations_ready(&[]).1, "no Kustomization is not ready");
}

#[test]
fn the_kubeconfig_names_the_server_ca_and_token() {
    let kc: serde_json::Value = serde_json::from_str(&kubeconfig("edge-eu-1", "https://x:1", "Q0E=", "tok")).unwrap();
    assert_eq!(kc["clusters"][0]["cluster"]["server"], "https://x:1");
    assert_eq!(kc["clusters"][0]["cluster"]["certificate-authority-data"], "Q0E=");
    assert_eq!(kc["users"][0]["user"]["token"], "tok");
    assert_eq!(kc["current-context"], "edge-eu-1");
}
