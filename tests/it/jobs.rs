//! Runs for real, as a user runs them: `dstack apply` of tasks and services
//! on the local fleet through the runner the CLI starts (host processes and
//! the real Docker engine of `.ci/docker-up`), then `ps`, `logs`, `stop`,
//! and a runner killed under a running job.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::dstack_bin;

/// A project directory whose local runner is stopped when dropped.
pub struct JobProject {
    pub dir: PathBuf,
}

impl JobProject {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dstack-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("project dir");
        Self { dir }
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dirs");
        }
        std::fs::write(path, text).expect("write config");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(dstack_bin());
        cmd.args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env_remove("DSTACK_PROJECT_DIR")
            .stdin(Stdio::null());
        cmd
    }

    pub fn dstack(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("dstack runs")
    }

    /// The runner's pid, from its endpoint file.
    pub fn runner_pid(&self) -> Option<i32> {
        runner_pid_of(&self.dir)
    }

    pub fn ps(&self) -> Vec<Value> {
        let out = self.dstack(&["ps", "-a", "--json"]);
        assert!(out.status.success(), "ps failed: {}", text(&out.stderr));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("ps json");
        assert_eq!(doc["format_version"], "1.0", "{doc}");
        doc["runs"].as_array().expect("runs").clone()
    }

    pub fn run_status(&self, run: &str) -> Value {
        self.ps()
            .into_iter()
            .find(|r| r["name"] == run)
            .unwrap_or_else(|| panic!("no run {run} in ps"))
    }

    /// Polls `ps` until the run's status is one of `statuses`.
    pub fn wait_status(&self, run: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.run_status(run);
            if statuses.iter().any(|s| status["status"] == *s) {
                return status;
            }
            assert!(Instant::now() < deadline, "run {run} stayed {status}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl JobProject {
    /// Runners started for this project or for a project in one of its
    /// subdirectories (tests that pass a relative `--project-dir`).
    fn runner_pids_within(&self) -> Vec<i32> {
        let nested = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir());
        std::iter::once(self.dir.clone())
            .chain(nested)
            .filter_map(|dir| runner_pid_of(&dir))
            .collect()
    }
}

fn runner_pid_of(project: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(project.join(".dstack/runner/runner.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

impl Drop for JobProject {
    fn drop(&mut self) {
        for pid in self.runner_pids_within() {
            // SIGTERM: the runner stops its jobs (containers too) and exits.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const HELLO: &str = "type: task\nname: hello\nenv:\n  - GREETING=hi there\n  - FROM_APPLY\n  - TOKEN=${{ secrets.API_TOKEN }}\ncommands:\n  - echo \"$GREETING from $DSTACK_RUN_NAME\"\n  - echo \"inherited=$FROM_APPLY secret=$TOKEN\"\n  - cat data/input.txt\n";

#[test]
fn apply_runs_a_task_on_the_host_and_reapply_is_a_no_op() {
    let p = JobProject::new("hello");
    p.write("hello.dstack.yml", HELLO);
    p.write("data/input.txt", "from the repo\n");
    let out = p
        .command(&["apply", "-y"])
        .env("FROM_APPLY", "apply-env")
        .env("DSTACK_SECRET_API_TOKEN", "s3cret")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("hi there from hello\n"), "{stdout}");
    assert!(
        stdout.contains("inherited=apply-env secret=s3cret\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("from the repo\n"),
        "the project directory travels: {stdout}"
    );
    let run = p.run_status("hello");
    assert_eq!(run["status"], "done");
    assert_eq!(run["jobs"][0]["exit_code"], 0);
    // Unchanged: nothing to do, nothing runs again.
    let again = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    let logs = p.dstack(&["logs", "hello"]);
    assert_eq!(
        text(&logs.stdout),
        "hi there from hello\ninherited=apply-env secret=s3cret\nfrom the repo\n"
    );
    // The secret is not in state or plans.
    let state = p.dstack(&["state", "show", "run/hello"]);
    assert!(!text(&state.stdout).contains("s3cret"));
}

#[test]
fn apply_exits_with_the_jobs_exit_code() {
    let p = JobProject::new("fail");
    p.write(
        "fail.dstack.yml",
        "type: task\nname: fail\ncommands:\n  - echo before\n  - echo oops >&2\n  - exit 3\n",
    );
    let out = p.dstack(&["apply", "-y"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("before\n"));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("oops"), "{stderr}");
    assert!(
        stderr.contains("run/fail: failed (exited with code 3)"),
        "{stderr}"
    );
    let run = p.run_status("fail");
    assert_eq!(run["status_message"], "exited (3)");
    assert_eq!(run["jobs"][0]["reason"], "container_exited_with_error");
}

#[test]
fn a_missing_secret_is_named() {
    let p = JobProject::new("secret");
    p.write(
        "s.dstack.yml",
        "type: task\nname: sec\nenv:\n  - T=${{ secrets.NOPE }}\ncommands: [echo $T]\n",
    );
    let out = p.dstack(&["apply", "-y"]);
    assert_eq!(out.status.code(), Some(5), "apply is partial");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("secret NOPE is not set: export DSTACK_SECRET_NOPE"),
        "{stderr}"
    );
    // The run is recorded, its job is not: `ps` says so instead of
    // `submitted`, and the next apply tries again.
    let ps = p.dstack(&["ps", "-a", "--json"]);
    let doc: Value = serde_json::from_slice(&ps.stdout).expect("ps json");
    let runs = &doc["runs"];
    assert_eq!(runs[0]["status"], "pending", "{runs}");
    assert_eq!(runs[0]["status_message"], "pending (no job submitted yet)");
    let out = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "the job is planned again");
}

#[test]
fn detached_run_is_followed_stopped_and_keeps_its_whole_log() {
    let p = JobProject::new("stop");
    p.write(
        "loop.dstack.yml",
        "type: task\nname: loop\nstop_duration: 5s\ncommands:\n  - i=0; while true; do i=$((i+1)); echo \"line $i\"; sleep 0.01; done\n",
    );
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    p.wait_status("loop", &["running"]);
    // Let it write a while, then stop it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = p.dstack(&["logs", "loop"]);
        if text(&logs.stdout).lines().count() >= 100 {
            break;
        }
        assert!(Instant::now() < deadline, "no output");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop = p.dstack(&["stop", "loop", "-y"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert!(
        text(&stop.stdout).contains("run/loop: stopped"),
        "{}",
        text(&stop.stdout)
    );
    let logs = text(&p.dstack(&["logs", "loop"]).stdout);
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() >= 100);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("line {}", i + 1), "every line, in order");
    }
    let diagnose = text(&p.dstack(&["logs", "loop", "-d"]).stderr);
    assert!(diagnose.contains("[runner] stopped by user"), "{diagnose}");
    // The whole log is in state: it outlives the runner.
    let pid = p.runner_pid().expect("runner");
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    std::thread::sleep(Duration::from_millis(200));
    let again = text(&p.dstack(&["logs", "loop"]).stdout);
    assert_eq!(again, logs);
}

#[test]
fn a_job_whose_runner_is_killed_is_reported_failed_with_a_reason() {
    let p = JobProject::new("killed");
    p.write(
        "long.dstack.yml",
        "type: task\nname: long\ncommands:\n  - echo started\n  - sleep 600\n",
    );
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    p.wait_status("long", &["running"]);
    let pid = p.runner_pid().expect("runner running");
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}/status")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|s| !s.contains("State:\tZ"))
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = p.wait_status("long", &["failed"]);
    let job = &run["jobs"][0];
    assert_eq!(job["reason"], "runner_restarted", "{run}");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("the runner stopped while this job was running"),
        "{run}"
    );
    assert_eq!(run["status_message"], "runner lost");
    let logs = text(&p.dstack(&["logs", "long"]).stdout);
    assert_eq!(logs, "started\n", "output from before the kill is kept");
}

#[test]
fn docker_task_and_service_ports() {
    let p = JobProject::new("docker");
    p.write(
        "dtask.dstack.yml",
        "type: task\nname: dtask\nimage: busybox\nenv:\n  - A=1\ncommands:\n  - echo \"in $(pwd) A=$A\"\n  - ls /workflow\n  - exit 4\n",
    );
    p.write("marker.txt", "x\n");
    let out = p.dstack(&["apply", "-y", "-f", "dtask.dstack.yml"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("in /workflow A=1\n"), "{stdout}");
    assert!(stdout.contains("marker.txt"), "{stdout}");

    p.write(
        "web.dstack.yml",
        "type: service\nname: web\nimage: busybox\nport: 18471\ncommands:\n  - mkdir -p /www && echo served > /www/index.html\n  - httpd -f -p 18471 -h /www\n",
    );
    let out = p.dstack(&["apply", "-y", "-d", "-f", "web.dstack.yml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    p.wait_status("web", &["running"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = http_get(18471);
        if body.contains("served") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("served"), "{body}");
    let ports = &p.run_status("web")["jobs"][0]["ports"];
    assert_eq!(ports[0]["host"], 18471, "{ports}");
    let stop = p.dstack(&["stop", "web", "-y"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert_eq!(p.run_status("web")["status"], "terminated");
}

fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The README's two job examples, as files of `examples/`.
#[test]
fn readme_examples_run_on_the_host_and_in_docker() {
    let p = JobProject::new("readme");
    for name in ["hello.dstack.yml", "hello-docker.dstack.yml"] {
        std::fs::copy(
            crate::harness::root().join("examples").join(name),
            p.dir.join(name),
        )
        .expect("copy example");
    }
    let host = p.dstack(&["apply", "-y", "-f", "hello.dstack.yml"]);
    let stdout = text(&host.stdout);
    assert!(host.status.success(), "{stdout}\n{}", text(&host.stderr));
    assert!(
        stdout.contains(
            "Hello from dstack-rs\nrunning as job hello on Linux\nstep 1\nstep 2\nstep 3\n"
        ),
        "{stdout}"
    );
    let docker = p.dstack(&["apply", "-y", "-f", "hello-docker.dstack.yml"]);
    let stdout = text(&docker.stdout);
    assert!(
        docker.status.success(),
        "{stdout}\n{}",
        text(&docker.stderr)
    );
    assert!(
        stdout.contains("Hello from a container\nworking in /workflow, which holds the project:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("hello-docker.dstack.yml\n"), "{stdout}");
    assert!(
        stdout.contains("job hello-docker, node 0 of 1\n"),
        "{stdout}"
    );
    let ps = p.ps();
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|r| r["status"] == "done"), "{ps:?}");
}
