//! The runner of this machine: `<project>/.dstack/runner/`. Started by the
//! CLI when a command needs it (`dstack runner serve`, detached in its own
//! process group so it outlives the CLI and keeps jobs running), found
//! again through `runner.json` and the token file. A file lock makes two
//! CLIs starting it at once start one runner.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dstack_runner::RunnerClient;
use dstack_runner::daemon::{RunnerEndpoint, read_endpoint};
use dstack_state::store::pid_alive;

/// How long a runner that answered a health check is trusted without a
/// new one: an `apply` makes several requests in a row, and each used to
/// start with its own check (and its own connection).
const HEALTHY_FOR: Duration = Duration::from_secs(2);

/// The local runner's directory and how to reach it.
#[derive(Debug, Clone)]
pub struct LocalRunner {
    dir: PathBuf,
    /// The client of the last health check that passed, and when.
    checked: Arc<Mutex<Option<(Instant, RunnerClient)>>>,
}

impl LocalRunner {
    /// The runner of the project whose `.dstack` directory is `dot_dstack`.
    pub fn new(dot_dstack: &Path) -> Self {
        Self {
            dir: dot_dstack.join("runner"),
            checked: Arc::default(),
        }
    }

    fn token(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("token"))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// A client of the runner if one is running now (never starts one).
    pub async fn running(&self) -> Option<RunnerClient> {
        if let Some(client) = self.recently_checked() {
            return Some(client);
        }
        let endpoint = read_endpoint(&self.dir).ok()?;
        if !pid_alive(endpoint.pid) {
            return None;
        }
        let client = RunnerClient::new(&endpoint.url, &self.token()?);
        client.health().await.ok()?;
        self.remember(&client);
        Some(client)
    }

    fn recently_checked(&self) -> Option<RunnerClient> {
        let slot = self.checked.lock().ok()?;
        let (at, client) = slot.as_ref()?;
        (at.elapsed() < HEALTHY_FOR).then(|| client.clone())
    }

    fn remember(&self, client: &RunnerClient) {
        if let Ok(mut slot) = self.checked.lock() {
            *slot = Some((Instant::now(), client.clone()));
        }
    }

    /// A client of the runner, starting it first when none runs.
    pub async fn ensure(&self) -> Result<RunnerClient, String> {
        if let Some(client) = self.running().await {
            return Ok(client);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let dir = self.dir.clone();
        let started = tokio::task::spawn_blocking(move || start_locked(&dir))
            .await
            .map_err(|e| e.to_string())??;
        let token = self.token().ok_or_else(|| {
            format!(
                "the runner's token file in {} is missing",
                self.dir.display()
            )
        })?;
        let client = RunnerClient::new(&started.url, &token);
        self.remember(&client);
        Ok(client)
    }
}

/// Starts the runner unless another process did meanwhile (under the lock).
fn start_locked(dir: &Path) -> Result<RunnerEndpoint, String> {
    let lock_path = dir.join("start.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if let Ok(endpoint) = read_endpoint(dir)
        && pid_alive(endpoint.pid)
        && answers(&endpoint)
    {
        return Ok(endpoint);
    }
    let _ = std::fs::remove_file(dir.join(dstack_runner::daemon::ENDPOINT_FILE));
    let mut child = spawn_runner(dir)?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(endpoint) = read_endpoint(dir)
            && endpoint.pid == pid
        {
            return Ok(endpoint);
        }
        if !matches!(child.try_wait(), Ok(None)) || Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("runner.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            return Err(format!(
                "the local runner did not start (log {}):\n{}",
                dir.join("runner.log").display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn answers(endpoint: &RunnerEndpoint) -> bool {
    let Some(addr) = endpoint.url.strip_prefix("http://") else {
        return false;
    };
    addr.parse()
        .ok()
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// Variables holding the CLI's secrets (`DSTACK_SECRET_NAME`).
pub const SECRET_PREFIX: &str = "DSTACK_SECRET_";

// The runner must outlive this process, so it is not waited for; once the
// CLI exits, init reaps it.
#[allow(clippy::zombie_processes)]
fn spawn_runner(dir: &Path) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the dstack binary: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("runner.log"))
        .map_err(|e| format!("cannot open the runner log: {e}"))?;
    let mut command = Command::new(exe);
    // The runner outlives this CLI and serves every later one: it gets no
    // secret of this one (each job gets its own, in its submission).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(SECRET_PREFIX) {
            command.env_remove(name);
        }
    }
    let child = command
        .args(["runner", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .arg("--token-file")
        .arg(dir.join("token"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the local runner: {e}"))?;
    Ok(child)
}
