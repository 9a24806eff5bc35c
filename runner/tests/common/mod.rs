//! A real `dstack-runner` process per test, and polling helpers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dstack_runner::RunnerClient;
use dstack_runner::api::{ExecutorKind, JobInfo, JobSubmission, Limits, LogEntry, LogStream};

/// A runner daemon in a temporary directory.
pub struct Runner {
    pub dir: tempfile::TempDir,
    pub client: RunnerClient,
    child: Option<Child>,
}

impl Runner {
    /// Starts `dstack-runner serve` on a free loopback port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (child, client) = spawn(dir.path().to_path_buf());
        Self {
            dir,
            client,
            child: Some(child),
        }
    }

    /// SIGKILL: the runner dies without cleaning anything up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the runner to exit (up to 60 s).
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("the runner did not exit within 60 s of SIGTERM");
        }
    }

    /// Starts a new runner on the same directory.
    pub fn restart(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(self.dir.path().join("runner.json"));
        let (child, client) = spawn(self.dir.path().to_path_buf());
        self.child = Some(child);
        self.client = client;
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            // SIGTERM: the runner stops its jobs and seals their logs.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let mut child = child;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// The child is handed to `Runner`, which reaps it on drop.
#[allow(clippy::zombie_processes)]
fn spawn(dir: PathBuf) -> (Child, RunnerClient) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dstack-runner"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .arg("--token-file")
        .arg(dir.join("token"))
        .env("CLI_ONLY_SECRET", "must-not-leak")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("runner.log")).expect("log file"))
        .spawn()
        .expect("dstack-runner starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(endpoint) = dstack_runner::daemon::read_endpoint(&dir)
            && endpoint.pid == child.id()
        {
            let token = std::fs::read_to_string(dir.join("token")).expect("token file");
            return (child, RunnerClient::new(&endpoint.url, token.trim()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "runner did not start; its log: {}",
                std::fs::read_to_string(dir.join("runner.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sh -c SCRIPT` as argv.
pub fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

/// A process-executor submission with a unique token.
pub fn submission(name: &str, command: Vec<String>) -> JobSubmission {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    JobSubmission {
        token: format!("{name}-{}-{n}", std::process::id()),
        run_name: name.into(),
        job_name: format!("{name}-0-0"),
        executor: ExecutorKind::Process,
        image: None,
        pull_policy: Default::default(),
        command,
        env: Default::default(),
        working_dir: None,
        user: None,
        privileged: false,
        ports: Vec::new(),
        mounts: Vec::new(),
        limits: Limits::default(),
        archives: Vec::new(),
        artifacts: Vec::new(),
        max_duration_secs: None,
        stop_grace_secs: Some(5),
    }
}

/// Polls until the job is finished (60 s at most).
pub async fn wait_finished(client: &RunnerClient, id: &str) -> JobInfo {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = client.job(id).await.expect("job info");
        if info.status.is_finished() {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never finished: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole log of a job, as it is now.
pub async fn collect_log(client: &RunnerClient, id: &str) -> Vec<LogEntry> {
    let mut offset = 0;
    let mut out = Vec::new();
    loop {
        let page = client
            .logs(id, offset, Duration::ZERO)
            .await
            .expect("log page");
        if page.entries.is_empty() {
            return out;
        }
        offset = page.next;
        out.extend(page.entries);
    }
}

/// Follows the log until a line starts with `prefix`; returns that line.
pub async fn wait_for_line(client: &RunnerClient, id: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut offset = 0;
    loop {
        let page = client
            .logs(id, offset, Duration::from_millis(500))
            .await
            .expect("log page");
        if let Some(e) = page.entries.iter().find(|e| e.record.m.starts_with(prefix)) {
            return e.record.m.clone();
        }
        offset = page.next;
        assert!(
            !page.sealed && Instant::now() < deadline,
            "no line starting with {prefix:?} in the log of {id}"
        );
    }
}

/// True while the process exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// Polls a condition for up to 20 s.
pub async fn eventually(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The messages of one stream of a log, in order.
pub fn lines(log: &[LogEntry], stream: LogStream) -> Vec<&str> {
    log.iter()
        .filter(|e| e.record.s == stream)
        .map(|e| e.record.m.as_str())
        .collect()
}
