//! kube-rs clients against the simulated API server: what a real cluster would answer.

use crate::common;

use std::time::Duration;

use common::{admin, client, eventually, status_code, still_fleet};
use fleetdeck::sim::Access;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::watcher;
use serde_json::json;

#[derive(Debug, Default)]
struct Reply {
    reason: String,
    message: String,
}

fn cm(name: &str, labels: serde_json::Value, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": data}),
    )
    .unwrap()
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_continue() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    namespace(&client, "paging").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "paging");
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("cm-{i}"), json!({"test": "paging"}), json!({})))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut pages = 0;
    let mut params = ListParams::default().labels("test=paging").limit(3);
    loop {
        let page = api.list(&params).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => {
                assert!(page.metadata.remaining_item_count.unwrap() > 0);
                params = params.continue_token(&token);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    let garbage = api.list(&ListParams::default().continue_token("nonsense")).await.unwrap_err();
    assert_eq!(status_code(&garbage), Some(400));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_a_resource_version_and_sends_bookmarks() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", json!({}), json!({}))).await.unwrap();
    let rv = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("after", json!({}), json!({}))).await.unwrap();
    api.patch("before", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}}))).await.unwrap();

    let mut stream = api.watch(&WatchParams::default().timeout(10), &rv).await.unwrap().boxed();
    let mut seen = Vec::new();
    let mut bookmark = false;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap() {
        match event.unwrap() {
            WatchEvent::Added(c) => seen.push(format!("ADDED {}", c.metadata.name.unwrap())),
            WatchEvent::Modified(c) => seen.push(format!("MODIFIED {}", c.metadata.name.unwrap())),
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmark = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED after", "MODIFIED before"], "only changes after the version, in order");
    assert!(bookmark, "a bookmark arrives within the bookmark interval");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_old_version_is_gone_and_the_watcher_relists() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("x", json!({}), json!({}))).await.unwrap();
    fleet.hub().lock().store.compact();

    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert!(status.message.contains("too old resource version"), "{}", status.message);
        }
        other => panic!("expected 410, got {other:?}"),
    }

    // kube-runtime's watcher: after a 410 mid-stream it lists again (Init .. InitDone).
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut inits = 0;
    let mut seen_after_relist = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await else { break };
        match event {
            Ok(watcher::Event::Init) => {
                inits += 1;
                if inits == 2 {
                    fleet.hub().faults.update(|f| f.gone_storm = false);
                }
            }
            // The first list is done: every watch from now on is answered 410 Gone
            // until the watcher has gone back to listing.
            Ok(watcher::Event::InitDone) if inits == 1 => fleet.hub().faults.update(|f| f.gone_storm = true),
            Ok(watcher::Event::InitApply(c)) if inits >= 2 && c.metadata.name.as_deref() == Some("x") => {
                seen_after_relist = true
            }
            Ok(watcher::Event::InitDone) if inits >= 2 => break,
            _ => {}
        }
    }
    assert!(inits >= 2, "the watcher relisted after the 410 (inits: {inits})");
    assert!(seen_after_relist, "the relist returns the current objects");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patch_type() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "staging-eu-1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("p", json!({"a": "1"}), json!({"x": "1"}))).await.unwrap();

    let merged = cms
        .patch("p", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": null, "b": "2"}}})))
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.unwrap(), [("b".to_owned(), "2".to_owned())].into());

    let ops: json_patch::Patch = serde_json::from_value(
        json!([{"op": "add", "path": "/data/y", "value": "2"}, {"op": "remove", "path": "/data/x"}]),
    )
    .unwrap();
    let patched = cms.patch("p", &PatchParams::default(), &Patch::Json::<()>(ops)).await.unwrap();
    assert_eq!(patched.data.unwrap(), [("y".to_owned(), "2".to_owned())].into());

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/y", "value": "nope"}])).unwrap();
    assert_eq!(
        status_code(&cms.patch("p", &PatchParams::default(), &Patch::Json::<()>(failing)).await.unwrap_err()),
        Some(422)
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "payments");
    let strategic = deployments
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy:1.31"}]}}}}),
            ),
        )
        .await
        .unwrap();
    let containers: Vec<String> =
        strategic.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
    assert_eq!(containers, ["api", "sidecar"], "strategic merge adds to the keyed list");

    // Custom resources take no strategic merge patch, as on a real server.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (backup_ar, _) =
        discovery.resolve_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", "Backup")).unwrap();
    let backups: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &backup_ar);
    let name = backups.list(&ListParams::default()).await.unwrap().items[0].metadata.name.clone().unwrap();
    let err = backups
        .patch(&name, &PatchParams::default(), &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), Some(415));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_tracks_field_managers() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"owner": "alice", "shared": "1"}});
    let created = cms.patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&config)).await.unwrap();
    let managed = created.metadata.managed_fields.unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("alice"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"owner": "bob"}});
    let err = cms.patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob)).await.unwrap_err();
    assert_eq!(status_code(&err), Some(409));
    if let kube::Error::Api(s) = &err {
        assert!(s.message.contains("conflict with \"alice\""), "{}", s.message);
    }
    let forced = cms.patch("ssa", &PatchParams::apply("bob").force(), &Patch::Apply(&bob)).await.unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["owner"], "bob");
    assert_eq!(forced.data.as_ref().unwrap()["shared"], "1", "alice still owns `shared`");

    // alice stops declaring `shared`: it is removed, since nobody else owns it.
    let alice_again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}});
    let pruned = cms.patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&alice_again)).await.unwrap();
    assert_eq!(pruned.data.unwrap().get("shared"), None);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_leave_the_store_unchanged() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let before = fleet.hub().lock().store.rv();
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let answer = cms.create(&dry, &cm("dry", json!({}), json!({"k": "v"}))).await.unwrap();
    assert!(answer.metadata.uid.is_some(), "the answer is the object as it would be");
    assert_eq!(status_code(&cms.get("dry").await.unwrap_err()), Some(404));

    cms.create(&PostParams::default(), &cm("real", json!({}), json!({"k": "v"}))).await.unwrap();
    let after_create = fleet.hub().lock().store.rv();
    assert!(after_create > before);
    let patched = cms
        .patch("real", &PatchParams::default().dry_run(), &Patch::Merge(json!({"data": {"k": "changed"}})))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["k"], "changed");
    assert_eq!(cms.get("real").await.unwrap().data.unwrap()["k"], "v");
    cms.delete("real", &DeleteParams::default().dry_run()).await.unwrap();
    assert!(cms.get("real").await.is_ok());
    assert_eq!(fleet.hub().lock().store.rv(), after_create, "no dry run wrote anything");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_status_objects_with_the_right_codes() {
    let fleet = still_fleet(1).await;
    let admin_client = admin(&fleet, "hub").await;
    let viewer = client(&fleet, "hub", Access::ReadOnly).await;
    let cms: Api<ConfigMap> = Api::namespaced(admin_client.clone(), "default");

    // 404
    let err = cms.get("missing").await.unwrap_err();
    assert_eq!(status_code(&err), Some(404));
    if let kube::Error::Api(s) = &err {
        assert_eq!(s.reason, "NotFound");
        assert_eq!(s.message, "configmaps \"missing\" not found");
    }
    // 409 AlreadyExists, then 409 Conflict on a stale resourceVersion
    let first = cms.create(&PostParams::default(), &cm("c", json!({}), json!({}))).await.unwrap();
    assert_eq!(
        status_code(&cms.create(&PostParams::default(), &cm("c", json!({}), json!({}))).await.unwrap_err()),
        Some(409)
    );
    cms.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": "b"}}))).await.unwrap();
    let err = cms.replace("c", &PostParams::default(), &first).await.unwrap_err();
    assert_eq!(status_code(&err), Some(409));
    if let kube::Error::Api(s) = &err {
        assert_eq!(s.reason, "Conflict");
    }
    // 403 for the read-only user, with the API server's wording
    let viewer_cms: Api<ConfigMap> = Api::namespaced(viewer.clone(), "default");
    assert!(viewer_cms.list(&ListParams::default()).await.is_ok());
    let err = viewer_cms.create(&PostParams::default(), &cm("v", json!({}), json!({}))).await.unwrap_err();
    assert_eq!(status_code(&err), Some(403));
    if let kube::Error::Api(s) = &err {
        assert!(s.message.contains("User \"fleet-viewer\" cannot create resource \"configmaps\""), "{}", s.message);
    }
    let secrets: Api<Secret> = Api::namespaced(viewer, "default");
    assert_eq!(
        status_code(&secrets.list(&ListParams::default()).await.unwrap_err()),
        Some(403),
        "view excludes secrets"
    );
    // 401 for a token the cluster does not know
    let mut kubeconfig = fleet.kubeconfig(Access::Admin);
    for user in kubeconfig["users"].as_array_mut().unwrap() {
        if user["user"].get("token").is_some() {
            user["user"]["token"] = json!("forged");
        }
    }
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions { context: Some("staging-eu-1".into()), ..Default::default() };
    let forged =
        kube::Client::try_from(kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.unwrap()).unwrap();
    let err = Api::<ConfigMap>::namespaced(forged, "default").list(&ListParams::default()).await.unwrap_err();
    assert_eq!(status_code(&err), Some(401));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_what_a_real_server_gives() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let request = |method: &str, path: &str, content_type: &str, body: Vec<u8>| {
        http::Request::builder().method(method).uri(path).header("content-type", content_type).body(body).unwrap()
    };
    let call = |req: http::Request<Vec<u8>>| {
        let client = client.clone();
        async move {
            match client.request_text(req).await {
                Ok(_) => (200, Reply::default()),
                Err(kube::Error::Api(s)) => (s.code, Reply { reason: s.reason.clone(), message: s.message.clone() }),
                Err(e) => panic!("not an API error: {e}"),
            }
        }
    };
    let (code, e) =
        call(request("POST", "/api/v1/namespaces/default/configmaps", "application/json", b"{not json".to_vec())).await;
    assert_eq!((code, e.reason.as_str()), (400, "BadRequest"));
    let (code, _) =
        call(request("POST", "/api/v1/namespaces/default/configmaps", "application/yaml", b"a: [unclosed".to_vec()))
            .await;
    assert_eq!(code, 400);
    let (code, e) = call(request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(),
    ))
    .await;
    assert_eq!(code, 400);
    assert!(e.message.contains("does not match the expected kind"), "{}", e.message);
    let (code, _) = call(request("GET", "/api/v1/widgets", "application/json", vec![])).await;
    assert_eq!(code, 404);
    let (code, _) = call(request("GET", "/apis/nothing.example.com/v1/things", "application/json", vec![])).await;
    assert_eq!(code, 404);
    let (code, e) =
        call(request("POST", "/api/v1/namespaces/default/configmaps", "application/json", vec![b' '; 4 * 1024 * 1024]))
            .await;
    assert_eq!((code, e.reason.as_str()), (413, "RequestEntityTooLarge"));
    let (code, _) = call(request("POST", "/api/v1/namespaces/default/configmaps", "text/csv", b"a,b".to_vec())).await;
    assert_eq!(code, 415);
    let (code, e) = call(request(
        "POST",
        "/api/v1/namespaces/nowhere/configmaps",
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(),
    ))
    .await;
    assert_eq!(code, 404, "{}", e.message);
    let strict = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}"#.to_vec();
    let (code, e) = call(request(
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        "application/json",
        strict,
    ))
    .await;
    assert_eq!(code, 400);
    assert!(e.message.contains("unknown field \"bogus\""), "{}", e.message);
    // Nothing above reached the store.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert!(cms.get_opt("x").await.unwrap().is_none());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_have_real_status_shapes_and_metadata_lists() {
    let fleet = still_fleet(2).await;
    let client = admin(&fleet, "hub").await;
    let ks =
        ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ks);
    let list = api.list(&ListParams::default()).await.unwrap();
    let remote: Vec<&DynamicObject> =
        list.items.iter().filter(|k| k.data.pointer("/spec/kubeConfig/secretRef/name").is_some()).collect();
    assert_eq!(remote.len(), 4, "two Kustomizations per spoke");
    for k in remote {
        let ready = k.data["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert!(k.data["status"]["lastAppliedRevision"].as_str().unwrap().contains('@'));
    }
    let meta = Api::<Namespace>::all(client).list_metadata(&ListParams::default()).await.unwrap();
    assert!(meta.items.iter().any(|n| n.metadata.name.as_deref() == Some("staging-eu-1")));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_denies_privileged_pods_on_spokes_with_policies() {
    let fleet = still_fleet(1).await;
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}}))
    .unwrap();
    let spoke = Api::<Pod>::namespaced(admin(&fleet, "staging-eu-1").await, "default");
    let err = spoke.create(&PostParams::default(), &pod).await.unwrap_err();
    assert_eq!(status_code(&err), Some(400));
    if let kube::Error::Api(s) = &err {
        assert!(s.message.contains("disallow-privileged-containers"), "{}", s.message);
    }
    let hub = Api::<Pod>::namespaced(admin(&fleet, "hub").await, "default");
    let created = hub.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("bad"));
    let running = eventually(Duration::from_secs(5), || async {
        hub.get("bad").await.ok().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    assert!(running.is_some(), "the pod runs");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_denies_host_path_volumes_and_images_without_digest_in_a_dry_run_too() {
    let fleet = still_fleet(1).await;
    let spoke = Api::<Pod>::namespaced(admin(&fleet, "staging-eu-1").await, "default");
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let digest = "busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";
    let host_path: Pod = serde_json::from_value(json!({"metadata": {"name": "host"}, "spec": {
        "containers": [{"name": "c", "image": digest}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}))
    .unwrap();
    let tagged: Pod = serde_json::from_value(
        json!({"metadata": {"name": "tagged"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}),
    )
    .unwrap();
    for (pod, policy, what) in
        [(&host_path, "disallow-host-path", "volumes: root"), (&tagged, "require-image-digest", "image: busybox:1.36")]
    {
        let err = spoke.create(&dry, pod).await.unwrap_err();
        assert_eq!(status_code(&err), Some(400));
        if let kube::Error::Api(s) = &err {
            assert!(s.message.contains(policy) && s.message.contains(what), "{}", s.message);
        }
    }
    let fine: Pod = serde_json::from_value(
        json!({"metadata": {"name": "fine"}, "spec": {"containers": [{"name": "c", "image": digest}]}}),
    )
    .unwrap();
    spoke.create(&dry, &fine).await.expect("a pod by digest without host paths is admitted");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_authenticate_with_their_bindings() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "staging-eu-1").await;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "robot"}})).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), "default").create(&PostParams::default(), &sa).await.unwrap();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}}, "type": "kubernetes.io/service-account-token"})).unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let filled = eventually(Duration::from_secs(5), || async {
        secrets.get("robot-token").await.ok().and_then(|s| s.data).filter(|d| d.contains_key("token"))
    })
    .await
    .expect("the token controller fills the secret");
    assert!(filled.contains_key("ca.crt") && filled.contains_key("namespace"));
    let token = String::from_utf8(filled["token"].0.clone()).unwrap();

    let mut kubeconfig = fleet.kubeconfig(Access::Admin);
    for user in kubeconfig["users"].as_array_mut().unwrap() {
        if user["name"] == "staging-eu-1-admin" {
            user["user"] = json!({"token": token});
        }
    }
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions { context: Some("staging-eu-1".into()), ..Default::default() };
    let robot =
        kube::Client::try_from(kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.unwrap()).unwrap();
    let robot_cms: Api<ConfigMap> = Api::namespaced(robot.clone(), "default");
    assert_eq!(status_code(&robot_cms.list(&ListParams::default()).await.unwrap_err()), Some(403), "no binding yet");
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "robot-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]});
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    bindings.create(&PostParams::default(), &serde_json::from_value(binding).unwrap()).await.unwrap();
    assert!(robot_cms.list(&ListParams::default()).await.is_ok(), "the binding grants view");
    secrets.delete("robot-token", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        status_code(&robot_cms.list(&ListParams::default()).await.unwrap_err()),
        Some(401),
        "deleting the secret revokes the token"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_terminate_then_vanish_with_their_content() {
    let fleet = fleetdeck::sim::Fleet::start(fleetdeck::sim::SimOptions { spokes: Some(1), ..Default::default() })
        .await
        .unwrap();
    let client = admin(&fleet, "hub").await;
    namespace(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("inside", json!({}), json!({}))).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete("doomed", &DeleteParams::default()).await.unwrap();
    let ns = namespaces.get("doomed").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = cms.create(&PostParams::default(), &cm("late", json!({}), json!({}))).await.unwrap_err();
    assert_eq!(status_code(&err), Some(403), "no new content in a terminating namespace");
    let gone = eventually(Duration::from_secs(10), || async {
        namespaces.get_opt("doomed").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the namespace controller finalizes it");
    let list: Vec<ConfigMap> = cms.list(&ListParams::default()).await.unwrap().items;
    assert!(list.is_empty());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_filter_by_label_and_report_objects_leaving_the_selection() {
    let fleet = still_fleet(1).await;
    let client = admin(&fleet, "hub").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut stream =
        cms.watch(&WatchParams::default().labels("tier=web").disable_bookmarks(), &rv).await.unwrap().boxed();
    cms.create(&PostParams::default(), &cm("other", json!({"tier": "db"}), json!({}))).await.unwrap();
    cms.create(&PostParams::default(), &cm("web", json!({"tier": "web"}), json!({}))).await.unwrap();
    cms.patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"tier": "db"}}})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await.unwrap().unwrap().unwrap() {
            WatchEvent::Added(c) => seen.push(format!("ADDED {}", c.metadata.name.unwrap())),
            WatchEvent::Deleted(c) => seen.push(format!("DELETED {}", c.metadata.name.unwrap())),
            other => seen.push(format!("{other:?}")),
        }
    }
    assert_eq!(seen, ["ADDED web", "DELETED web"]);
    fleet.stop().await;
}
