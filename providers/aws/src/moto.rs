//! A local moto EC2 server for tests, benchmarks and the README walkthrough:
//! started on 127.0.0.1 on a free port through `moto/moto_faults.py`
//! (moto plus injectable faults), killed when dropped. Knows nothing of
//! dstack; it only runs the server and talks to its control endpoints.
//!
//! moto is installed by `.ci/moto-up` into [`default_venv`]; set
//! `DSTACK_MOTO_PYTHON` to use another Python that has `moto[server]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The moto version the project pins (also in `.ci/moto-up`).
pub const MOTO_VERSION: &str = "5.2.5";

/// Credentials moto accepts (it checks none); tests pass them explicitly.
pub const ACCESS_KEY: &str = "testing";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testing";

/// How long the server may take to start (importing moto is slow).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Where `.ci/moto-up` installs moto.
pub fn default_venv() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/dstack-rs")
        .join(format!("moto-{MOTO_VERSION}"))
}

/// The fault-injecting launcher script.
pub fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto/moto_faults.py")
}

fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("DSTACK_MOTO_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = default_venv().join("bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(format!(
            "moto is not installed ({} is missing); run `.ci/moto-up` or set DSTACK_MOTO_PYTHON",
            venv.display()
        ))
    }
}

/// A running moto server.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts a server on a free port and waits until it listens.
    pub fn start() -> Result<Self, String> {
        let mut child = Command::new(python()?)
            .arg(launcher())
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let stdout = child.stdout.take().ok_or("moto has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("moto did not start listening in time".into());
            }
        };
        let Some(endpoint) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("moto failed to start (said {line:?})"));
        };
        Ok(Self {
            endpoint: endpoint.to_string(),
            child,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Replaces the injected faults (see `moto_faults.py` for the rule shape).
    pub fn set_faults(&self, rules: &serde_json::Value) -> Result<serde_json::Value, String> {
        let body = serde_json::json!({ "rules": rules }).to_string();
        self.request("POST", "/_faults", &body)
    }

    /// The injected faults and how often each fired.
    pub fn faults(&self) -> Result<serde_json::Value, String> {
        self.request("GET", "/_faults", "")
    }

    /// Forgets every resource (moto's own reset).
    pub fn reset(&self) -> Result<(), String> {
        self.request("POST", "/moto-api/reset", "").map(|_| ())
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Result<serde_json::Value, String> {
        let host = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).map_err(|e| format!("moto: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("moto: {e}"))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| format!("moto: {e}"))?;
        let (head, payload) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(format!("moto {method} {path}: {head}"));
        }
        Ok(serde_json::from_str(payload).unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
