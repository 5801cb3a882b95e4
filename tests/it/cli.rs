//! The command line as scripts use it: completions and the man page come from the CLI
//! definition, and `fleetdeck journal verify|export` exit codes and output.

use crate::common;

fn fleetdeck(args: &[&str], home: &std::path::Path) -> std::process::Output {
    common::cli(args, home).output().expect("fleetdeck runs")
}

#[test]
fn completions_and_the_man_page_follow_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = fleetdeck(&["completions", shell], dir.path());
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("read-only") && text.contains("journal") && text.contains("audit-file"), "{shell}");
    }
    let man = fleetdeck(&["man"], dir.path());
    assert!(man.status.success());
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(text.contains(".TH fleetdeck 1"), "{text}");
    assert!(text.contains("read\\-only"));
}

#[test]
fn journal_verify_and_export_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let p = path.display().to_string();
    let absent = fleetdeck(&["journal", "verify", "--journal", &p], dir.path());
    assert_eq!(absent.status.code(), Some(0), "an absent journal is intact");
    let journal = fleetdeck::journal::Journal::at(&path);
    for n in 0..3 {
        let draft = fleetdeck::journal::Draft {
            action: "backup".into(),
            ..common::draft("alice", jiff::Timestamp::from_second(1_800_000_000 + n).unwrap())
        };
        journal.append(draft).unwrap();
    }
    let ok = fleetdeck(&["journal", "verify", "--journal", &p], dir.path());
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact, 3 entries"));
    let csv = fleetdeck(
        &["journal", "export", "--format", "csv", "--since", "2027-01-15T08:00:01Z", "--journal", &p],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().count(), 3, "the header and two entries");

    let text = std::fs::read_to_string(&path).unwrap().replace("\"backup\"", "\"restore\"");
    std::fs::write(&path, text).unwrap();
    let broken = fleetdeck(&["journal", "verify", "--journal", &p], dir.path());
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stdout).contains("line 1: entry 1 was changed"));
}

#[test]
fn an_invalid_runbook_or_policy_probe_in_the_config_directory_is_refused_before_the_terminal_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("config").join("fleetdeck").join("runbooks");
    std::fs::create_dir_all(runbooks.join("policy-probes")).unwrap();
    std::fs::write(runbooks.join("migration.toml"), "[[step]]\nname = \"look\"\nkind = \"script\"\n").unwrap();
    let out = fleetdeck(&["demo", "--spokes", "1"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runbooks/migration.toml: step 1 (look): key kind: unknown step kind \"script\""), "{err}");
    // A valid runbook, and a probe that is not a manifest.
    std::fs::write(runbooks.join("migration.toml"), fleetdeck::workflow::migrate::RUNBOOK).unwrap();
    std::fs::write(runbooks.join("policy-probes").join("nodeport.yaml"), "kind: Service\n").unwrap();
    let out = fleetdeck(&["demo", "--spokes", "1"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy-probes/nodeport.yaml: a policy probe needs a kind and metadata.name"), "{err}");
}
