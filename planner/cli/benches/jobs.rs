//! Jobs through the real runner, compared with Docker itself in the same
//! run: (1) time from starting `dstack apply` to the job's first log line
//! versus a bare `docker run` of the same image printing the same line;
//! (2) log throughput of `dstack logs -f` versus `docker logs -f` over the
//! same number of lines. Needs Docker and the test image (`.ci/docker-up`).
//!
//! `cargo bench -p dstack --bench jobs [-- --quick] [-- --lines=N]`

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "busybox:latest";

fn dstack() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dstack"))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// Spawns a command and returns the seconds until a stdout line equal to
/// `line` appears (the rest of the output is drained, the process waited).
fn time_to_line(mut cmd: Command, line: &str) -> f64 {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut at = None;
    for l in BufReader::new(stdout).lines() {
        let l = l.expect("line");
        if at.is_none() && l == line {
            at = Some(start.elapsed().as_secs_f64());
        }
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "command failed: {cmd:?}");
    at.unwrap_or_else(|| panic!("never printed {line:?}"))
}

struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dstack-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Self { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(dstack());
        c.args(args).current_dir(&self.dir).env("NO_COLOR", "1");
        c
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).expect("write");
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(self.dir.join(".dstack/runner/runner.json"))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(pid) = v["pid"].as_i64()
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn task(name: &str, image: Option<&str>, commands: &[&str]) -> String {
    let mut text = format!("type: task\nname: {name}\n");
    if let Some(image) = image {
        text.push_str(&format!("image: {image}\n"));
    }
    text.push_str("commands:\n");
    for c in commands {
        text.push_str(&format!("  - {c}\n"));
    }
    text
}

fn first_line(rounds: usize) {
    println!("## apply → first log line ({rounds} rounds, median)\n");
    let marker = "first-line-marker";
    let docker: Vec<f64> = (0..rounds)
        .map(|_| {
            let mut c = Command::new("docker");
            c.args(["run", "--rm", IMAGE, "echo", marker]);
            time_to_line(c, marker)
        })
        .collect();
    // Warm: the project's runner is already running (as after any earlier
    // apply); each round is a new run.
    let warm = Project::new("warm");
    warm.write(
        "warmup.dstack.yml",
        &task("warmup", Some(IMAGE), &["echo warm"]),
    );
    let status = warm
        .cmd(&["apply", "-y", "-f", "warmup.dstack.yml"])
        .output()
        .expect("warmup");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut dstack_docker = Vec::new();
    let mut dstack_process = Vec::new();
    for i in 0..rounds {
        let name = format!("d{i:03}");
        let file = format!("{name}.dstack.yml");
        warm.write(
            &file,
            &task(&name, Some(IMAGE), &[&format!("echo {marker}")]),
        );
        dstack_docker.push(time_to_line(
            warm.cmd(&["apply", "-y", "-f", &file]),
            marker,
        ));
        let name = format!("p{i:03}");
        let file = format!("{name}.dstack.yml");
        warm.write(&file, &task(&name, None, &[&format!("echo {marker}")]));
        dstack_process.push(time_to_line(
            warm.cmd(&["apply", "-y", "-f", &file]),
            marker,
        ));
    }
    // Cold: a fresh project each round, so the runner starts too.
    let mut cold = Vec::new();
    for i in 0..rounds.min(5) {
        let p = Project::new(&format!("cold{i}"));
        p.write(
            "t.dstack.yml",
            &task("cold", Some(IMAGE), &[&format!("echo {marker}")]),
        );
        cold.push(time_to_line(p.cmd(&["apply", "-y"]), marker));
    }
    let base = median(docker.clone());
    println!("| what | median | ratio to `docker run` |");
    println!("|---|---:|---:|");
    println!(
        "| `docker run --rm {IMAGE} echo …` | {:.0} ms | 1.00 |",
        base * 1e3
    );
    for (what, xs) in [
        ("`dstack apply` Docker task, runner running", dstack_docker),
        (
            "`dstack apply` host-process task, runner running",
            dstack_process,
        ),
        (
            "`dstack apply` Docker task, fresh project (runner starts)",
            cold,
        ),
    ] {
        let m = median(xs);
        println!("| {what} | {:.0} ms | {:.2} |", m * 1e3, m / base);
    }
    println!();
}

/// Runs a command to its end, counting output lines; returns (seconds from
/// start to end, seconds from the first output byte to the end, lines).
fn drain(mut cmd: Command) -> (f64, f64, usize) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0;
    let mut first = None;
    loop {
        let n = out.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    child.wait().expect("wait");
    let end = Instant::now();
    (
        (end - start).as_secs_f64(),
        first.map_or(0.0, |f| (end - f).as_secs_f64()),
        lines,
    )
}

fn wait_container(id: &str) {
    let status = Command::new("docker")
        .args(["wait", id])
        .output()
        .expect("docker wait");
    assert!(status.status.success());
}

fn docker_run_detached(script: &str) -> String {
    String::from_utf8(
        Command::new("docker")
            .args(["run", "-d", IMAGE, "sh", "-c", script])
            .output()
            .expect("docker run")
            .stdout,
    )
    .expect("id")
    .trim()
    .to_string()
}

fn wait_done(p: &Project, run: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ps = p.cmd(&["ps", "-a", "--json"]).output().expect("ps");
        let v: Vec<serde_json::Value> = serde_json::from_slice(&ps.stdout).unwrap_or_default();
        if v.iter().any(|r| r["name"] == run && r["status"] == "done") {
            return;
        }
        assert!(Instant::now() < deadline, "job did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn throughput(lines: usize, rounds: usize) {
    println!("## log throughput, {lines} lines (median of {rounds})\n");
    let script = format!("seq 1 {lines}");
    // Replay of a finished job's whole log.
    let id = docker_run_detached(&script);
    wait_container(&id);
    let docker_replay: Vec<(f64, f64, usize)> = (0..rounds)
        .map(|_| {
            let mut c = Command::new("docker");
            c.args(["logs", "-f", &id]);
            drain(c)
        })
        .collect();
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    let p = Project::new("logs");
    let mut first_read = Vec::new();
    let mut live = Vec::new();
    let mut docker_live = Vec::new();
    for i in 0..rounds {
        // Live: the reader starts with the job and follows it to its end;
        // timed from the first line it prints to its exit.
        let id = docker_run_detached(&script);
        let mut c = Command::new("docker");
        c.args(["logs", "-f", &id]);
        docker_live.push(drain(c));
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        let run = format!("live{i}");
        p.write(
            &format!("{run}.dstack.yml"),
            &task(&run, Some(IMAGE), &[&script]),
        );
        let out = p
            .cmd(&["apply", "-y", "-d", "-f", &format!("{run}.dstack.yml")])
            .output()
            .expect("apply");
        assert!(out.status.success());
        live.push(drain(p.cmd(&["logs", &run, "-f"])));
        // Replay: a finished job whose log is still only on the runner
        // (runner → state → stdout).
        let run = format!("done{i}");
        p.write(
            &format!("{run}.dstack.yml"),
            &task(&run, Some(IMAGE), &[&script]),
        );
        let out = p
            .cmd(&["apply", "-y", "-d", "-f", &format!("{run}.dstack.yml")])
            .output()
            .expect("apply");
        assert!(out.status.success());
        std::thread::sleep(Duration::from_secs(2));
        first_read.push(drain(p.cmd(&["logs", &run, "-f"])));
    }
    wait_done(&p, "done0");
    // Replay from state (the log was copied by the first read).
    let from_state: Vec<(f64, f64, usize)> = (0..rounds)
        .map(|_| drain(p.cmd(&["logs", "done0", "-f"])))
        .collect();
    println!(
        "| reader | lines received (fewest of the rounds) | time | lines/s | vs `docker logs -f` |"
    );
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, xs: &[(f64, f64, usize)], live: bool, base: f64| {
        let m = median(xs.iter().map(|d| if live { d.1 } else { d.0 }).collect());
        let n = xs.iter().map(|d| d.2).min().unwrap_or(0);
        if what.contains("dstack") {
            assert_eq!(n, lines, "{what} printed {n} lines");
        }
        println!(
            "| {what} | {n} | {:.0} ms | {:.0} | {:.2}× |",
            m * 1e3,
            n as f64 / m,
            base / m
        );
    };
    let base_replay = median(docker_replay.iter().map(|d| d.0).collect());
    let base_live = median(docker_live.iter().map(|d| d.1).collect());
    row(
        "replay: `docker logs -f` of a finished container",
        &docker_replay,
        false,
        base_replay,
    );
    row(
        "replay: `dstack logs -f`, log still on the runner",
        &first_read,
        false,
        base_replay,
    );
    row(
        "replay: `dstack logs -f`, log already in state",
        &from_state,
        false,
        base_replay,
    );
    row(
        "live: `docker logs -f` from container start (first line → end)",
        &docker_live,
        true,
        base_live,
    );
    row(
        "live: `dstack logs -f` from job submit (first line → end)",
        &live,
        true,
        base_live,
    );
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let lines = args
        .iter()
        .find_map(|a| a.strip_prefix("--lines=")?.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 200_000 });
    let ok = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Docker or the image {IMAGE} is missing; run `bash .ci/docker-up`"
    );
    first_line(if quick { 3 } else { 11 });
    throughput(lines, if quick { 1 } else { 5 });
}
