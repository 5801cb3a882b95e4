//! Real components the tests start on loopback (Prometheus, Alertmanager, promtool), and
//! the little HTTP they are asked with.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// A free loopback port.
pub fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on loopback: (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

/// A query string's value, percent-encoded.
pub fn percent_encoded(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A binary of a Debian package, by its names in /usr/bin, /usr/local/bin or PATH; a test
/// that needs a missing one fails with the command that installs it (`.ci/run` does).
pub fn binary(names: &[&str], package: &str, why: &str) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = ["/usr/bin", "/usr/local/bin"].into_iter().map(str::to_owned).chain(path.split(':').map(str::to_owned));
    let dirs: Vec<String> = dirs.collect();
    for name in names {
        if let Some(found) = dirs.iter().map(|d| format!("{d}/{name}")).find(|p| Path::new(p).exists()) {
            return found;
        }
    }
    panic!("{why}: install Debian's package with `apt-get install {package}` (.ci/run does)")
}

/// A process killed when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's Prometheus on `port`, run in `dir` with its `config` (a file name there).
pub fn prometheus(dir: &Path, config: &str, port: u16) -> Killed {
    let binary = binary(&["prometheus"], "prometheus", "this test scrapes with a real Prometheus");
    Killed(
        std::process::Command::new(binary)
            .current_dir(dir)
            .arg(format!("--config.file={config}"))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A Prometheus instant query's result vector.
pub fn query(port: u16, q: &str) -> Vec<serde_json::Value> {
    get(port, &format!("/api/v1/query?query={}", percent_encoded(q)))
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}
