//! The process executor: the job's command as a plain process on the host,
//! in its own process group and its own work tree (`<job>/work`, where the
//! repo and files are unpacked). Stopping signals the whole group, so
//! children started by the job's shell go too.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::failure::Failure;
use super::logs::{LineSplitter, LogSender};
use super::store::JobFiles;
use super::{Job, Shared};
use crate::api::{JobSubmission, LogStream, PortBinding};

/// The directory the container executor calls the repo directory; the
/// process executor maps it onto the job's work tree.
pub const CONTAINER_REPO_DIR: &str = "/workflow";

/// Why a submission cannot run as a host process (checked at submit).
pub fn unsupported(submission: &JobSubmission) -> Option<String> {
    if submission.command.is_empty() {
        return Some("the process executor needs a command (`commands:`)".into());
    }
    if let Some(m) = submission.mounts.first() {
        return Some(format!(
            "mounting {} at {} needs the Docker executor; give the run an `image:`",
            m.source, m.target
        ));
    }
    if let Some(p) = submission
        .ports
        .iter()
        .find(|p| p.host.is_some_and(|h| h != p.container))
    {
        return Some(format!(
            "publishing port {} as {} needs the Docker executor (a host process listens on its own port); use `ports: [{}]` or an `image:`",
            p.container,
            p.host.unwrap_or_default(),
            p.container
        ));
    }
    if let Some(a) = submission
        .archives
        .iter()
        .find(|a| Path::new(&a.path).is_absolute() && !a.path.starts_with(CONTAINER_REPO_DIR))
    {
        return Some(format!(
            "unpacking {} into the absolute path {} needs the Docker executor; use a path relative to the working directory",
            a.label, a.path
        ));
    }
    None
}

/// Variables of the host a host-process job inherits.
fn host_basic(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "HOME" | "USER" | "LOGNAME" | "SHELL" | "LANG" | "TZ" | "TMPDIR" | "TERM"
    ) || name.starts_with("LC_")
}

/// Where a container path lands in the work tree.
pub fn host_path(work: &Path, cwd: &Path, path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix(CONTAINER_REPO_DIR) {
        work.join(rest.trim_start_matches('/'))
    } else if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        cwd.join(path)
    }
}

/// A prepared process job.
pub struct Prepared {
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Makes the work tree, unpacks the archives, resolves the working
/// directory and the environment.
pub fn prepare(shared: &Shared, job: &Job, log: &LogSender) -> Result<Prepared, Failure> {
    let sub = &job.submission;
    let work = job.dir.join(JobFiles::WORK);
    std::fs::create_dir_all(&work)
        .map_err(|e| Failure::executor(format!("cannot create {}: {e}", work.display())))?;
    let cwd = match &sub.working_dir {
        None => work.clone(),
        Some(dir) => host_path(&work, &work, dir),
    };
    std::fs::create_dir_all(&cwd).map_err(|e| {
        Failure::executor(format!(
            "working directory {} cannot be made: {e}",
            cwd.display()
        ))
    })?;
    for archive in &sub.archives {
        let bytes = std::fs::read(shared.layout.archive(&archive.archive)).map_err(|e| {
            Failure::executor(format!(
                "archive {} ({}) is missing: {e}",
                archive.archive, archive.label
            ))
        })?;
        let dest = host_path(&work, &cwd, &archive.path);
        let done = crate::archive::unpack(&bytes, &dest, shared.unpack_limit).map_err(|e| {
            Failure::executor(format!(
                "cannot unpack {} into {}: {e}",
                archive.label,
                dest.display()
            ))
        })?;
        let _ = log.try_send(super::logs::note(format!(
            "unpacked {} ({} files, {} bytes) into {}",
            archive.label,
            done.files,
            done.bytes,
            dest.display()
        )));
    }
    // A job sees the basics of the host's environment, not the runner's
    // whole environment (which is whatever the CLI that started it had);
    // anything else it gets through `env:`.
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| host_basic(k)).collect();
    env.push(("DSTACK_REPO_DIR".into(), work.display().to_string()));
    env.push(("DSTACK_WORKING_DIR".into(), cwd.display().to_string()));
    env.extend(sub.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Last, so recovery can recognise the job's process group by it.
    env.push(("DSTACK_JOB_ID".into(), job.id.clone()));
    Ok(Prepared { cwd, env })
}

/// A started process job.
pub struct Started {
    pub child: tokio::process::Child,
    pub pgid: i32,
    pub pumps: Vec<tokio::task::JoinHandle<()>>,
    pub ports: Vec<PortBinding>,
}

/// Starts the command in a new process group, piping its output to the log.
pub fn start(sub: &JobSubmission, prepared: Prepared, log: &LogSender) -> Result<Started, Failure> {
    let mut cmd = tokio::process::Command::new(&sub.command[0]);
    cmd.args(&sub.command[1..])
        .current_dir(&prepared.cwd)
        .env_clear()
        .envs(prepared.env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::executor(format!("cannot start `{}`: {e}", sub.command[0])))?;
    let pgid = child.id().map_or(0, |id| id as i32);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, LogStream::Stdout, log.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, LogStream::Stderr, log.clone())));
    }
    let ports = sub
        .ports
        .iter()
        .map(|p| PortBinding {
            container: p.container,
            host_ip: "127.0.0.1".into(),
            host: p.container,
            // The process binds it itself; `listen` watches for where.
            listen: None,
        })
        .collect();
    Ok(Started {
        child,
        pgid,
        pumps,
        ports,
    })
}

async fn pump(mut reader: impl tokio::io::AsyncRead + Unpin, stream: LogStream, log: LogSender) {
    let mut splitter = LineSplitter::new(stream);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for line in splitter.feed(&buf[..n]) {
                    if log.send(line).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    if let Some(rest) = splitter.finish() {
        let _ = log.send(rest).await;
    }
}

/// Waits for the process; signals become `128 + signal` like a shell.
pub async fn wait(child: &mut tokio::process::Child) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match child.wait().await {
        Ok(status) => status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

/// Signals the whole process group; `false` when it no longer exists.
pub fn signal_group(pgid: i32, signal: Signal) -> bool {
    pgid > 1 && killpg(Pid::from_raw(pgid), signal).is_ok()
}

/// True while any process of the group lives.
pub fn group_alive(pgid: i32) -> bool {
    pgid > 1 && killpg(Pid::from_raw(pgid), None).is_ok()
}
