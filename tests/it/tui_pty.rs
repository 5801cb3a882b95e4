//! The real binary end to end in a pseudo-terminal: `fleetdeck demo` goes Live, keys
//! work, and the terminal is restored on quit and on signals.

use crate::common;

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

/// SGR parameters that set a colour (foreground, background, bright, 256 and RGB forms);
/// 39, 49 and 59 put the terminal's default back and are allowed.
fn colour_settings(raw: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < raw.len() {
        if raw[i] == 0x1b && raw[i + 1] == b'[' {
            let start = i + 2;
            let mut end = start;
            while end < raw.len() && !(0x40..=0x7e).contains(&raw[end]) {
                end += 1;
            }
            if end < raw.len() && raw[end] == b'm' {
                let params = String::from_utf8_lossy(&raw[start..end]).into_owned();
                let sets = params
                    .split([';', ':'])
                    .filter_map(|p| p.parse::<u16>().ok())
                    .any(|n| matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107));
                if sets {
                    found.push(params);
                }
            }
            i = end;
        }
        i += 1;
    }
    found
}

#[test]
fn over_ssh_at_80x24_with_no_color_and_ascii() {
    let mut pty =
        Pty::spawn(&["demo", "--spokes", "2", "--scenario", "healthy", "--ascii"], &[("NO_COLOR", "1")], 80, 24);
    pty.wait_for("3/3 live", LIVE);
    for key in ["2", "3", "4", "5", "1", "j", "\r", "\x1b", "?", "\x1b", "3", "\r", "\x1b", "y", "1"] {
        pty.key(key);
        std::thread::sleep(Duration::from_millis(300));
    }
    // "·" is drawn as "." in ASCII.
    pty.wait_for("Health . 3 clusters", Duration::from_secs(5));
    // Smaller than the layout works in: a message, not a garbled screen; then back.
    pty.resize(50, 10);
    pty.wait_for("needs a terminal of at least", Duration::from_secs(5));
    pty.resize(80, 24);
    pty.wait_for("Health . 3 clusters", Duration::from_secs(5));
    pty.key("q");
    assert!(pty.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()));
    let raw = pty.raw();
    assert!(raw.len() > 10_000, "the session drew ({} bytes)", raw.len());
    // y on the propagation pane's first spoke: its name to the clipboard, as OSC 52.
    use base64::Engine as _;
    let osc52 = format!("\x1b]52;c;{}", base64::engine::general_purpose::STANDARD.encode("production-eu-1"));
    assert!(raw.windows(osc52.len()).any(|w| w == osc52.as_bytes()), "OSC 52 with the selected name");
    let colours = colour_settings(&raw);
    assert!(colours.is_empty(), "NO_COLOR: colours were set: {colours:?}");
    let odd: Vec<char> = String::from_utf8_lossy(&raw).chars().filter(|c| !c.is_ascii()).collect();
    assert!(odd.is_empty(), "--ascii: non-ASCII characters were sent: {odd:?}");
    assert!(pty.restored());

    // The wall too.
    let mut wall = Pty::spawn(&["demo", "--spokes", "2", "--wall", "--ascii"], &[("NO_COLOR", "1")], 80, 24);
    wall.wait_for("WALL", LIVE);
    wall.wait_for("data ", LIVE);
    wall.key("\t");
    wall.wait_for("Latency . page 2/6", Duration::from_secs(5));
    wall.key("q");
    assert!(wall.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()));
    let raw = wall.raw();
    assert!(colour_settings(&raw).is_empty());
    assert!(
        raw.is_ascii(),
        "{:?}",
        String::from_utf8_lossy(&raw).chars().filter(|c| !c.is_ascii()).collect::<String>()
    );
}

#[test]
fn the_colour_check_sees_colours() {
    // The detector of the test above, on what a colour session sends.
    assert_eq!(colour_settings(b"\x1b[1m\x1b[39m\x1b[49m\x1b[0m"), Vec::<String>::new());
    assert_eq!(colour_settings(b"a\x1b[38;5;208mb\x1b[31mc\x1b[1;42m"), vec!["38;5;208", "31", "1;42"]);
}
