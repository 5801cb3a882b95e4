//! Read-only by construction. Structurally: the capability the write client needs is
//! granted in one place, for operator sessions only, and a read-only keymap, help and
//! footer have no mutating action. End to end: the real binary with `--read-only` on
//! admin credentials, every key of every pane pressed, and the simulator received no
//! write request at all. The credentials are asked (SelfSubjectAccessReview) whether they
//! could write, and a read-only session says so when they could.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::pty::Pty;
use fleetdeck::action::{Action, Pane};
use fleetdeck::input::Keymap;
use fleetdeck::sim::{Fleet, Scenario, SimOptions};

/// Non-test source lines of `src` containing `needle`, as "file: line".
fn uses(needle: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in common::source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests sit at the end of a file, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        // The needle as a whole path (`BufWriter::new(` is not `Writer::new(`).
        let whole = |l: &str| {
            l.match_indices(needle)
                .any(|(i, _)| !l[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_'))
        };
        for line in code.lines().filter(|l| whole(l) && !l.trim_start().starts_with("//")) {
            found.push(format!("{}: {}", file.strip_prefix(&src).unwrap().display(), line.trim()));
        }
    }
    found
}

#[test]
fn only_an_operator_session_is_given_the_capability_to_write() {
    // The capability has one constructor, called in one place: the operator session's
    // write client in launch.rs, which run_tui builds only for Session::Operator.
    assert_eq!(
        uses("WriteAccess::operator_session()"),
        ["launch.rs: Writer::new(WriteAccess::operator_session(), &writable, config.engine.connect_timeout, journal)"]
    );
    assert_eq!(uses("Writer::new("), uses("WriteAccess::operator_session()"), "no other write client is built");
    let launch = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/launch.rs")).unwrap();
    assert!(launch.contains("let writer = writes.then(|| Arc::new(operator_writer(&contexts, config)));"));
    assert!(launch.contains("let writes = session == Session::Operator;"));
    // A write needs a Confirmed plan as well, which only the confirmation step makes.
    assert_eq!(
        uses("Confirmed { plan"),
        ["workflow/operation.rs: Some(Confirmed { plan: self.plan.clone(), confirmation })"]
    );
}

#[test]
fn a_read_only_keymap_help_and_footer_have_no_mutating_action() {
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = Keymap::new(&config.keys, false).unwrap();
    let operator = Keymap::new(&config.keys, true).unwrap();
    let mutating: Vec<Action> = Action::ALL.into_iter().filter(|a| a.mutates()).collect();
    assert_eq!(mutating.len(), 15);
    for a in &mutating {
        assert!(keymap.hints().keys(*a).is_empty(), "{a:?} has keys in a read-only keymap");
        assert!(!operator.hints().keys(*a).is_empty(), "{a:?} has keys in an operator keymap");
    }
    for pane in Pane::ALL {
        let help = fleetdeck::view::chrome::help(keymap.hints(), pane);
        let text = format!("{help:?}");
        for a in &mutating {
            assert!(!text.contains(a.description()), "help of {pane:?} names {a:?}");
        }
    }
}

#[test]
fn every_key_of_every_pane_in_a_read_only_session_writes_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fleet: Fleet = runtime.block_on(async {
        let options = SimOptions { spokes: Some(2), scenario: Scenario::builtin("healthy"), ..SimOptions::default() };
        Fleet::start(options).await.unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    // Admin credentials: what could write does not, because the session cannot.
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let writes =
        || fleet.clusters().iter().map(|c| c.stats.writes.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>();
    let before = writes();

    let mut pty = Pty::spawn(&["--read-only", "--kubeconfig", &kubeconfig.display().to_string()], &[], 120, 40);
    pty.wait_for("3/3 live", Duration::from_secs(60));
    assert!(pty.screen().contains("READ-ONLY"), "{}", pty.screen());
    // Admin credentials in a read-only session: said, from the access reviews.
    pty.wait_for("credentials could write on 3", Duration::from_secs(10));
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    // Every key the operator keymap knows (the mutating ones included), then the
    // confirmations an operator would type, on every pane, on a row and in its detail.
    let mut keys: Vec<String> =
        config.keys.iter().filter(|(name, _)| *name != "quit").flat_map(|(_, k)| k.clone()).collect();
    keys.retain(|k| !k.starts_with("ctrl-c"));
    for (pane, detail) in
        [("1", false), ("2", false), ("3", false), ("3", true), ("4", false), ("4", true), ("5", false)]
    {
        pty.key(pane);
        for key in &keys {
            if detail {
                pty.send("j\r");
            }
            pty.send(&common::pty::encode(key));
            // A destructive action's confirmation is the cluster's name, then Enter.
            pty.send("staging-eu-1\r");
            pty.key("\x1b");
            pty.key("\x1b");
            pty.send(pane);
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let screen = pty.screen();
    pty.key("q");
    assert!(pty.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()), "{screen}");
    let recent: Vec<String> = fleet.clusters().iter().flat_map(|c| c.stats.recent_writes()).collect();
    assert_eq!(writes(), before, "write requests from a read-only session: {recent:?}");
    runtime.block_on(fleet.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_are_asked_whether_they_could_write() {
    use fleetdeck::app::model::Model;
    use fleetdeck::cluster::Engine;
    use fleetdeck::sim::Access;
    use fleetdeck::view::chrome::summary;
    let fleet = common::still_fleet(1).await;
    let writes =
        || fleet.clusters().iter().map(|c| c.stats.writes.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>();
    let before = writes();
    for (access, could) in [(Access::Admin, true), (Access::ReadOnly, false)] {
        let contexts = common::contexts_of(&fleet, access).await;
        let mut model = Model::new(&contexts, common::settings(), jiff::Timestamp::now());
        let (engine, mut rx) = Engine::start(contexts, common::fast());
        let answered = |m: &mut Model| m.fleet.clusters().iter().all(|c| c.access.is_some());
        assert!(common::until(&mut model, &mut rx, Duration::from_secs(20), answered).await, "{access:?}");
        for c in model.fleet.clusters() {
            assert!(matches!(c.access, Some(Ok(_))), "{}: {:?}", c.context, c.access);
            assert_eq!(!c.could_write().is_empty(), could, "{access:?} {}: {:?}", c.context, c.access);
        }
        if could {
            assert!(
                model.fleet.clusters()[0]
                    .could_write()
                    .contains(&"patch kustomizations.kustomize.toolkit.fluxcd.io".into())
            );
        }
        let derived = model.derived();
        let line: String = summary(&model, &derived, 200).into_iter().map(|c| c.text).collect();
        assert_eq!(line.contains("credentials could write on 2"), could, "{line}");
        // An operator session is meant to write: no warning there.
        model.settings.writable = true;
        let line: String = summary(&model, &derived, 200).into_iter().map(|c| c.text).collect();
        assert!(!line.contains("could write"), "{line}");
        engine.stop().await;
    }
    assert_eq!(writes(), before, "access reviews are not writes");
    fleet.stop().await;
}
