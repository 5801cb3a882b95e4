//! The real binary in a pseudo-terminal, its screen kept by a vt100 parser, for
//! end-to-end tests. The output is drained on its own thread; cursor-position queries are
//! answered; tests poll the screen for text instead of sleeping.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    pub home: tempfile::TempDir,
}

impl Pty {
    /// Runs `fleetdeck ARGS` in a `cols`×`rows` terminal, with its own HOME.
    pub fn spawn(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Self {
        Self::spawn_program(env!("CARGO_BIN_EXE_fleetdeck"), args, env, cols, rows)
    }

    /// Runs any program in a `cols`×`rows` terminal, with its own HOME.
    pub fn spawn_program(program: &str, args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Self {
        let home = tempfile::tempdir().unwrap();
        let system = native_pty_system();
        let pair = system.openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.env("HOME", home.path());
        cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
        cmd.env("XDG_DATA_HOME", home.path().join("data"));
        cmd.env("XDG_STATE_HOME", home.path().join("state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env("RUST_BACKTRACE", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        {
            let (parser, raw, writer) = (parser.clone(), raw.clone(), writer.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let bytes = &buf[..n];
                            if bytes.windows(4).any(|w| w == b"\x1b[6n") {
                                let _ = writer.lock().unwrap().write_all(b"\x1b[1;1R");
                            }
                            raw.lock().unwrap().extend_from_slice(bytes);
                            parser.lock().unwrap().process(bytes);
                        }
                    }
                }
            });
        }
        Self { parser, raw, writer, child, _master: pair.master, home }
    }

    /// Resizes the terminal (the program gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        self._master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let (rows_nz, cols_nz) = (std::num::NonZeroU16::new(rows).unwrap(), std::num::NonZeroU16::new(cols).unwrap());
        self.parser.lock().unwrap().screen_mut().set_size(rows_nz, cols_nz);
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `text`; panics with the screen when it does not.
    pub fn wait_for(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.screen().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited {limit:?} for {text:?}; the screen:\n{}", self.screen());
    }

    /// Waits until a line starting with `first` holds every one of `words` (a table row
    /// in a given state); panics with the screen when none does.
    pub fn wait_for_row(&self, first: &str, words: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let screen = self.screen();
            if screen.lines().any(|l| l.starts_with(first) && words.iter().all(|w| l.contains(w))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited {limit:?} for a row {first:?} with {words:?}; the screen:\n{}", self.screen());
    }

    pub fn send(&self, keys: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// Sends one key and gives the program a moment, so an Esc is not read as Alt+key.
    pub fn key(&self, key: &str) {
        self.send(key);
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().unwrap()
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<portable_pty::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader take in the last bytes.
                std::thread::sleep(Duration::from_millis(200));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The terminal is back to normal: main screen, cursor shown.
    pub fn restored(&self) -> bool {
        let p = self.parser.lock().unwrap();
        !p.screen().alternate_screen() && !p.screen().hide_cursor()
    }

    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The bytes a terminal sends for a key as the config names it ("enter", "pagedown",
/// "ctrl-b", "G").
pub fn encode(spec: &str) -> String {
    match spec {
        "enter" => "\r".into(),
        "esc" => "\x1b".into(),
        "tab" => "\t".into(),
        "backtab" => "\x1b[Z".into(),
        "space" => " ".into(),
        "up" => "\x1b[A".into(),
        "down" => "\x1b[B".into(),
        "right" => "\x1b[C".into(),
        "left" => "\x1b[D".into(),
        "home" => "\x1b[H".into(),
        "end" => "\x1b[F".into(),
        "pageup" => "\x1b[5~".into(),
        "pagedown" => "\x1b[6~".into(),
        s if s.starts_with("ctrl-") && s.len() == 6 => {
            let c = s.as_bytes()[5].to_ascii_lowercase();
            char::from(c - b'a' + 1).to_string()
        }
        s => s.into(),
    }
}
