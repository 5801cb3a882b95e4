//! The real binary end to end in a pseudo-terminal: `fleetdeck demo` goes Live, keys
//! work, and the terminal is restored on quit and on signals.

mod common;

use std::time::Duration;

use common::pty::Pty;

const LIVE: Duration = Duration::from_secs(60);

fn demo() -> Pty {
    Pty::spawn(&["demo", "--spokes", "2", "--scenario", "healthy"], &[], 120, 40)
}

#[test]
fn demo_goes_live_keys_work_and_quit_restores_the_terminal() {
    let mut pty = demo();
    pty.wait_for("3/3 live", LIVE);
    let screen = pty.screen();
    assert!(
        screen.contains("hub") && screen.contains("staging-eu-1") && screen.contains("production-eu-1"),
        "{screen}"
    );
    assert!(!screen.contains("INFO") && !screen.contains("WARN"), "nothing but the UI on the terminal:\n{screen}");

    pty.key("2");
    pty.wait_for("GET /readyz from", Duration::from_secs(5));
    pty.key("1");
    pty.wait_for("Health ·", Duration::from_secs(5));
    pty.key("j");
    pty.key("\r");
    pty.wait_for("Cluster production-eu-1", Duration::from_secs(5));
    pty.wait_for("Nodes (", Duration::from_secs(5));
    pty.key("\x1b");
    pty.wait_for("Health ·", Duration::from_secs(5));
    pty.key("?");
    pty.wait_for("Keys", Duration::from_secs(5));
    pty.key("\x1b");
    pty.key("/");
    pty.send("prod");
    pty.wait_for("/prod", Duration::from_secs(5));
    pty.key("\r");
    pty.wait_for("filter \"prod\"", Duration::from_secs(5));
    assert!(!pty.screen().contains("staging-eu-1"), "filtered out");
    pty.key("q");
    let status = pty.wait_exit(Duration::from_secs(15)).expect("fleetdeck exits on q");
    assert!(status.success(), "{status:?}");
    assert!(pty.restored(), "the alternate screen is left and the cursor shown");
}

#[test]
fn signals_end_the_session_and_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let mut pty = demo();
        pty.wait_for("live", LIVE);
        let killed =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(pty.pid().to_string()).status().unwrap();
        assert!(killed.success());
        assert!(pty.wait_exit(Duration::from_secs(15)).is_some(), "SIG{signal} ends fleetdeck");
        assert!(pty.restored(), "SIG{signal}: the terminal is restored");
    }
}

#[test]
fn ctrl_c_quits() {
    let mut pty = demo();
    pty.wait_for("live", LIVE);
    pty.send("\x03");
    assert!(pty.wait_exit(Duration::from_secs(15)).is_some());
    assert!(pty.restored());
}
