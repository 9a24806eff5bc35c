//! From a planned job (its run's configuration and where it landed) to a
//! runner [`JobSubmission`]: the executor, the command line (dstack's
//! rule: `[shell, "-c", "cmd1 && cmd2 ..."]`, or the entrypoint plus the
//! commands), the environment (the config's, inherited values, secrets and
//! dstack's system variables), ports, mounts and limits. Pure: everything
//! from outside comes in through [`SubmissionInput`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::submission_error::SubmissionError;
use super::submission_error::SubmissionErrorKind::*;
use crate::apply::JobLaunch;
use dstack_runner::api::{ArchiveMount, ExecutorKind, JobSubmission, Limits, Mount, PortRequest};
use dstack_schemas::config::Configuration;
use dstack_schemas::config::resources::Resources;
use dstack_schemas::config::run::ShellSpec;
use dstack_schemas::grammar::{EnvValue, OffDuration, PortMapping, Template, VolumeMount};

/// The image used when a run names none and must run in a container.
pub const DEFAULT_IMAGE: &str = "dstackai/base:py3.12-0.10-cuda-12.1";

/// Where jobs of the `local` fleet run (`local.runtime` in `.dstack/backends.yml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalMode {
    /// Docker when the run names an `image:`, else a host process.
    Auto,
    /// Always Docker (the default image when none is named).
    Docker,
    /// Always a host process (`image:` is an error).
    Process,
}

impl LocalMode {
    /// The mode `local.runtime` names (`docker`, `process`; anything else
    /// is `auto`): the one mapping from the backends file.
    pub fn from_word(word: &str) -> Self {
        match word {
            "docker" => Self::Docker,
            "process" => Self::Process,
            _ => Self::Auto,
        }
    }
}

/// Everything a submission is built from.
pub struct SubmissionInput<'a> {
    /// The planned job.
    pub launch: &'a JobLaunch,
    /// How local jobs run.
    pub mode: LocalMode,
    /// Whether the job lands on this machine (the `local` fleet).
    pub local: bool,
    /// Whether it lands on a host the user owns and reaches over SSH (an
    /// SSH fleet host): like this machine, a run without an `image:` runs
    /// there as a host process (cloud instances always use containers).
    pub own_host: bool,
    /// The uploaded repo archive, if any.
    pub code: Option<String>,
    /// Uploaded `files:` archives.
    pub files: Vec<ArchiveMount>,
    /// Secret values by name (`${{ secrets.NAME }}`).
    pub secret: &'a dyn Fn(&str) -> Option<String>,
    /// Whether `/bin/bash` exists on the host (process executor's default shell).
    pub host_has_bash: bool,
    /// When Docker pulls the image.
    pub pull_policy: dstack_runner::api::PullPolicy,
    /// Facts about the packed repo, exported to the job.
    pub repo_env: BTreeMap<String, String>,
    /// Where a local volume recorded with a relative id (older versions)
    /// lives: the local backend's own rule, handed in by the composition
    /// root (the engine names no concrete provider).
    pub local_volume_dir: &'a dyn Fn(&str) -> PathBuf,
}

/// What one job runs, taken from its group when the run has groups.
struct JobShape<'a> {
    commands: Vec<Template>,
    ports: Vec<PortMapping>,
    resources: Option<&'a Resources>,
    image: Option<String>,
}

fn job_shape<'a>(config: &'a Configuration, group: &str) -> Result<JobShape<'a>, SubmissionError> {
    let common = config.run_common().ok_or_else(SubmissionError::not_a_run)?;
    let mut shape = JobShape {
        commands: Vec::new(),
        ports: Vec::new(),
        resources: common.resources.as_ref(),
        image: common.image.clone(),
    };
    let matches = |name: Option<String>, i: usize| name.unwrap_or_else(|| i.to_string()) == group;
    match config {
        Configuration::Task(task) => {
            shape.commands = task.commands.clone().unwrap_or_default();
            shape.ports = task.ports.clone().unwrap_or_default();
            if let Some(groups) = &task.groups {
                let (_, g) = groups
                    .iter()
                    .enumerate()
                    .find(|(i, g)| matches(g.name.as_ref().map(|n| n.to_string()), *i))
                    .ok_or_else(|| {
                        SubmissionError::new(
                            UnknownGroup,
                            format!("the run has no node group `{group}`"),
                        )
                    })?;
                shape.commands = g.commands.clone().unwrap_or_default();
                shape.ports = g.ports.clone().unwrap_or_default();
                shape.resources = g.resources.as_ref().or(shape.resources);
            }
        }
        Configuration::Service(service) => {
            shape.commands = service.commands.clone().unwrap_or_default();
            shape.ports = vec![service.port];
            if let Some(groups) = &service.groups {
                let (_, g) = groups
                    .iter()
                    .enumerate()
                    .find(|(i, g)| matches(g.name.as_ref().map(|n| n.to_string()), *i))
                    .ok_or_else(|| {
                        SubmissionError::new(
                            UnknownGroup,
                            format!("the service has no replica group `{group}`"),
                        )
                    })?;
                if let Some(c) = &g.commands {
                    shape.commands = c.clone();
                }
                shape.resources = g.resources.as_ref().or(shape.resources);
                if g.image.is_some() {
                    shape.image = g.image.clone();
                }
            }
        }
        Configuration::DevEnvironment(dev) => {
            let name = config
                .name()
                .map_or("dev-environment".into(), |n| n.to_string());
            let mut commands: Vec<Template> = common
                .setup
                .iter()
                .flatten()
                .chain(dev.init.iter().flatten())
                .map(Template::literal)
                .collect();
            commands.push(Template::literal(format!(
                "echo 'dev environment {name} is ready (attach with `dstack attach {name}`)'"
            )));
            commands.push(Template::literal("tail -f /dev/null"));
            shape.commands = commands;
            shape.ports = dev.ports.clone().unwrap_or_default();
        }
        _ => return Err(SubmissionError::not_a_run()),
    }
    Ok(shape)
}

/// Docker or process, and the image, for a job.
pub fn pick_executor(
    mode: LocalMode,
    local: bool,
    image: Option<&str>,
    run: &str,
) -> Result<(ExecutorKind, Option<String>), SubmissionError> {
    match (local, mode, image) {
        (true, LocalMode::Process, Some(image)) => Err(SubmissionError::new(
            Executor,
            format!(
                "run/{run} sets `image: {image}`, but `local.runtime` is `process` in .dstack/backends.yml; remove `image:` or set `runtime: runner` (Docker for runs with an image)"
            ),
        )),
        (true, LocalMode::Process, None) | (true, LocalMode::Auto, None) => {
            Ok((ExecutorKind::Process, None))
        }
        (_, _, Some(image)) => Ok((ExecutorKind::Docker, Some(image.to_string()))),
        (_, _, None) => Ok((ExecutorKind::Docker, Some(DEFAULT_IMAGE.to_string()))),
    }
}

fn shell_path(
    shell: Option<&ShellSpec>,
    executor: ExecutorKind,
    own_image: bool,
    bash: bool,
) -> String {
    match shell {
        Some(ShellSpec::Path(p)) => p.clone(),
        Some(ShellSpec::Named(s)) => format!("/bin/{}", s.as_str()),
        None if executor == ExecutorKind::Process && bash => "/bin/bash".into(),
        None if executor == ExecutorKind::Process || own_image => "/bin/sh".into(),
        None => "/bin/bash".into(),
    }
}

/// dstack's joining of commands: each trimmed, `&`-terminated ones wrapped
/// in braces so `&&` can follow them.
pub fn join_commands(commands: &[String]) -> String {
    commands
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(|c| {
            if c.ends_with('&') && !c.ends_with("&&") {
                format!("{{ {c} }}")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

fn render_command(t: &Template, run: &str) -> Result<String, SubmissionError> {
    t.render(|var| match (var.namespace.as_str(), var.name.as_str()) {
        ("run", "args") => Some(String::new()),
        ("groups", _) if var.name.ends_with("IP_ADDRESS") => Some("127.0.0.1".into()),
        _ => None,
    })
    .map_err(|var| {
        SubmissionError::new(
            UnsetValue,
            format!(
                "run/{run}: a command refers to `${{{{ {} }}}}`, which has no value when the job starts",
                var.path()
            ),
        )
    })
}

fn command_line(
    input: &SubmissionInput<'_>,
    shape: &JobShape<'_>,
    executor: ExecutorKind,
    own_image: bool,
) -> Result<Vec<String>, SubmissionError> {
    let config = &input.launch.config;
    let run = &input.launch.job.run;
    let common = config.run_common().ok_or_else(SubmissionError::not_a_run)?;
    let commands = shape
        .commands
        .iter()
        .map(|c| render_command(c, run))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(entrypoint) = &common.entrypoint {
        let mut argv = shlex::split(entrypoint).ok_or_else(|| {
            SubmissionError::new(
                Entrypoint,
                format!("run/{run}: `entrypoint: {entrypoint}` has unbalanced quotes"),
            )
        })?;
        argv.extend(commands);
        return Ok(argv);
    }
    if commands.is_empty() {
        return match executor {
            ExecutorKind::Docker => Ok(Vec::new()),
            ExecutorKind::Process => Err(SubmissionError::new(
                NothingToRun,
                format!(
                    "run/{run} has no `commands:` to run on this machine; add commands or an `image:` whose own command runs"
                ),
            )),
        };
    }
    let shell = shell_path(
        common.shell.as_ref(),
        executor,
        own_image,
        input.host_has_bash,
    );
    Ok(vec![shell, "-c".into(), join_commands(&commands)])
}

fn environment(
    input: &SubmissionInput<'_>,
    gpus_per_node: u32,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let launch = input.launch;
    let job = &launch.job;
    let nodes = match &launch.config {
        Configuration::Task(_) => dstack_planner::normalize::run_jobs(&launch.config)
            .len()
            .max(1),
        _ => 1,
    };
    let ip = "127.0.0.1";
    let mut env = BTreeMap::from([
        ("DSTACK_RUN_NAME".to_string(), job.run.clone()),
        ("DSTACK_RUN_ID".to_string(), job.run.clone()),
        ("DSTACK_JOB_NAME".to_string(), job_name(launch)),
        ("DSTACK_NODE_RANK".to_string(), job.node_rank.to_string()),
        ("DSTACK_NODES_NUM".to_string(), nodes.to_string()),
        ("DSTACK_NODES_IPS".to_string(), vec![ip; nodes].join("\n")),
        ("DSTACK_MASTER_NODE_IP".to_string(), ip.to_string()),
        (
            "DSTACK_GPUS_PER_NODE".to_string(),
            gpus_per_node.to_string(),
        ),
        (
            "DSTACK_GPUS_NUM".to_string(),
            (gpus_per_node as usize * nodes).to_string(),
        ),
        ("DSTACK_REPLICA_NUM".to_string(), job.replica.to_string()),
    ]);
    env.extend(input.repo_env.clone());
    let common = launch
        .config
        .run_common()
        .ok_or_else(SubmissionError::not_a_run)?;
    for entry in &common.env.0 {
        let value = match &entry.value {
            EnvValue::Inherit => launch.env.get(&entry.name).cloned().ok_or_else(|| {
                SubmissionError::new(
                    UnsetValue,
                    format!(
                        "environment variable {} is not set (run/{} inherits it)",
                        entry.name, job.run
                    ),
                )
            })?,
            EnvValue::Set(t) => t
                .render(|var| match var.namespace.as_str() {
                    "secrets" => (input.secret)(&var.name),
                    _ => None,
                })
                .map_err(|var| {
                    SubmissionError::new(UnsetValue, if var.namespace == "secrets" {
                        format!(
                            "secret {} is not set: export DSTACK_SECRET_{} before `dstack apply` (run/{} uses it in env {})",
                            var.name, var.name, job.run, entry.name
                        )
                    } else {
                        format!(
                            "run/{}: env {} refers to `${{{{ {} }}}}`, which has no value here",
                            job.run,
                            entry.name,
                            var.path()
                        )
                    })
                })?,
        };
        env.insert(entry.name.clone(), value);
    }
    Ok(env)
}

/// `<run>-<job>-<replica>`, as dstack names jobs.
pub fn job_name(launch: &JobLaunch) -> String {
    format!(
        "{}-{}-{}",
        launch.job.run, launch.job.index, launch.job.replica
    )
}

/// The host directory of a local volume: its recorded path when absolute;
/// a relative one (older versions recorded them relative to whatever
/// directory they ran in) is read by the local backend's own rule, so
/// Docker is always handed an absolute path.
fn local_source(source: String, volume_dir: &dyn Fn(&str) -> PathBuf) -> String {
    if Path::new(&source).is_absolute() {
        return source;
    }
    volume_dir(&source).display().to_string()
}

fn mounts(
    launch: &JobLaunch,
    local: bool,
    volume_dir: &dyn Fn(&str) -> PathBuf,
) -> Result<Vec<Mount>, SubmissionError> {
    let common = launch
        .config
        .run_common()
        .ok_or_else(SubmissionError::not_a_run)?;
    let mut out = Vec::new();
    for mount in common.volumes.iter().flatten() {
        match mount {
            VolumeMount::Instance {
                instance_path,
                path,
                optional,
            } => {
                if !local && *optional {
                    continue;
                }
                out.push(Mount {
                    source: instance_path.clone(),
                    target: path.clone(),
                    read_only: false,
                });
            }
            VolumeMount::Network { names, path } => {
                let volume = launch
                    .volumes
                    .iter()
                    .find(|v| {
                        names
                            .iter()
                            .any(|n| volume_name_matches(n, &v.name, launch))
                    })
                    .ok_or_else(|| {
                        SubmissionError::new(
                            Volume,
                            format!(
                                "run/{}: none of the volumes {} is recorded",
                                launch.job.run,
                                names.join(", ")
                            ),
                        )
                    })?;
                let source = volume
                    .data
                    .mount_source
                    .clone()
                    .or_else(|| local.then(|| volume.provider_id.clone()).flatten())
                    .ok_or_else(|| {
                        SubmissionError::new(
                            Volume,
                            format!(
                                "volume {} cannot be mounted on {}: its backend gives no path for the runner",
                                volume.name, launch.instance.address
                            ),
                        )
                    })?;
                let source = if local {
                    local_source(source, volume_dir)
                } else {
                    source
                };
                out.push(Mount {
                    source,
                    target: path.clone(),
                    read_only: false,
                });
            }
        }
    }
    Ok(out)
}

fn volume_name_matches(pattern: &str, name: &str, launch: &JobLaunch) -> bool {
    pattern
        .replace("${{ dstack.job_num }}", &launch.job.index.to_string())
        .replace("${{ dstack.node_rank }}", &launch.job.node_rank.to_string())
        == name
}

fn limits(resources: Option<&Resources>) -> Limits {
    let Some(r) = resources else {
        return Limits::default();
    };
    Limits {
        cpus: r.cpu.as_ref().and_then(|c| c.count.max).map(f64::from),
        memory_mb: r.memory.as_ref().and_then(|m| m.max).map(|m| m.mb()),
        shm_mb: r.shm_size.map(|m| m.mb()),
        gpus: r.gpu.as_ref().and_then(|g| g.count.min).filter(|&n| n > 0),
    }
}

fn off_secs(d: Option<&OffDuration>) -> Option<u64> {
    match d {
        Some(OffDuration::After(d)) => Some(d.secs()),
        _ => None,
    }
}

/// Builds the submission of one job.
pub fn build_submission(input: &SubmissionInput<'_>) -> Result<JobSubmission, SubmissionError> {
    let launch = input.launch;
    let config = &launch.config;
    let common = config.run_common().ok_or_else(SubmissionError::not_a_run)?;
    let shape = job_shape(config, &launch.job.group)?;
    // `local.runtime` is about this machine; an SSH host runs a run with an
    // image in Docker and one without as a host process.
    let (mode, process_capable) = match input.own_host {
        true => (LocalMode::Auto, true),
        false => (input.mode, input.local),
    };
    let (executor, image) = pick_executor(
        mode,
        process_capable,
        shape.image.as_deref(),
        &launch.job.run,
    )?;
    let limits = limits(shape.resources);
    let command = command_line(input, &shape, executor, shape.image.is_some())?;
    let env = environment(input, limits.gpus.unwrap_or(0))?;
    let base = assemble(SubmissionBase {
        token: launch.token.clone(),
        run_name: launch.job.run.clone(),
        job_name: job_name(launch),
        executor,
        image,
        pull_policy: input.pull_policy,
        command,
        env,
        working_dir: common.working_dir.clone(),
        code: input.code.clone(),
        archives: input.files.clone(),
        limits,
    });
    Ok(JobSubmission {
        user: common.user.clone(),
        privileged: common.privileged.unwrap_or(false) || common.docker.unwrap_or(false),
        ports: shape
            .ports
            .iter()
            .map(|p| PortRequest {
                container: p.container,
                host: p.local,
            })
            .collect(),
        mounts: mounts(launch, input.local, input.local_volume_dir)?,
        max_duration_secs: off_secs(common.profile.max_duration.as_ref()),
        stop_grace_secs: off_secs(common.profile.stop_duration.as_ref()).or(base.stop_grace_secs),
        ..base
    })
}

/// What every submission is built from, a run's job and a workflow's
/// alike; [`assemble`] makes the submission, and each caller then sets the
/// fields it has its own values for (`..assemble(base)`).
pub struct SubmissionBase {
    /// The job's token.
    pub token: String,
    /// Run name.
    pub run_name: String,
    /// Job name.
    pub job_name: String,
    /// Docker or a host process.
    pub executor: ExecutorKind,
    /// The image (Docker).
    pub image: Option<String>,
    /// When Docker pulls the image.
    pub pull_policy: dstack_runner::api::PullPolicy,
    /// The command line.
    pub command: Vec<String>,
    /// The environment.
    pub env: BTreeMap<String, String>,
    /// The working directory, if set.
    pub working_dir: Option<String>,
    /// The uploaded repo archive, unpacked at `/workflow`.
    pub code: Option<String>,
    /// Further archives, unpacked after the repo.
    pub archives: Vec<ArchiveMount>,
    /// Resource limits.
    pub limits: Limits,
}

/// Seconds between the graceful stop signal and the kill when a job does
/// not set its own.
pub const DEFAULT_STOP_GRACE_SECS: u64 = 10;

/// The one construction of a [`JobSubmission`]: `base`'s values, the repo
/// archive first, and the defaults (no user, not privileged, no ports,
/// mounts or artifacts, no time limit, the default stop grace). A new
/// submission field gets its default here.
pub fn assemble(base: SubmissionBase) -> JobSubmission {
    let mut archives = Vec::new();
    if let Some(code) = base.code {
        archives.push(ArchiveMount {
            archive: code,
            path: "/workflow".into(),
            label: "repo".into(),
        });
    }
    archives.extend(base.archives);
    JobSubmission {
        token: base.token,
        run_name: base.run_name,
        job_name: base.job_name,
        executor: base.executor,
        image: base.image,
        pull_policy: base.pull_policy,
        command: base.command,
        env: base.env,
        working_dir: base.working_dir,
        user: None,
        privileged: false,
        ports: Vec::new(),
        mounts: Vec::new(),
        limits: base.limits,
        archives,
        artifacts: Vec::new(),
        max_duration_secs: None,
        stop_grace_secs: Some(DEFAULT_STOP_GRACE_SECS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_joined_like_dstack() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_commands(&c(&["echo a", " echo b \n"])),
            "echo a && echo b"
        );
        assert_eq!(
            join_commands(&c(&["server &", "sleep 1"])),
            "{ server & } && sleep 1"
        );
        assert_eq!(join_commands(&c(&["a && b"])), "a && b");
    }

    #[test]
    fn executors_follow_the_mode_and_the_image() {
        use ExecutorKind::*;
        assert_eq!(
            pick_executor(LocalMode::Auto, true, None, "r").unwrap(),
            (Process, None)
        );
        assert_eq!(
            pick_executor(LocalMode::Auto, true, Some("img"), "r").unwrap(),
            (Docker, Some("img".into()))
        );
        assert_eq!(
            pick_executor(LocalMode::Docker, true, None, "r").unwrap(),
            (Docker, Some(DEFAULT_IMAGE.into()))
        );
        let err = pick_executor(LocalMode::Process, true, Some("img"), "r").unwrap_err();
        assert_eq!(err.kind, Executor);
        assert!(err.message.contains("local.runtime"), "{err}");
        assert_eq!(
            pick_executor(LocalMode::Process, false, None, "r")
                .unwrap()
                .0,
            Docker,
            "cloud instances always use containers"
        );
    }
}
