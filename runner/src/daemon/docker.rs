//! The Docker executor (bollard): image presence and pull, a container per
//! job with env, ports published on loopback, mounts, shm, CPU and memory
//! limits and NVIDIA GPUs, archives uploaded before start, output streamed
//! to the log, artifacts copied out after exit, and the container removed
//! once the log is sealed. The engine connection itself is [`engine`].

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, PortBinding as DockerPort};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::failure::Failure;
use super::logs::note;
use super::logs::{LineSplitter, LogSender};
use super::process::CONTAINER_REPO_DIR;
use super::validate::mb_bytes;
use super::{Job, Shared};
use crate::api::{ArchiveMount, JobSubmission, LogStream, PortBinding, PullPolicy};

/// Label on every container a runner makes: the runner id.
pub const LABEL_RUNNER: &str = "dstack.runner";
/// Label naming the job.
pub const LABEL_JOB: &str = "dstack.job";

/// The container path a job path means: relative paths are under the
/// working directory.
pub fn container_path(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        let rel = path.trim_start_matches("./");
        if rel.is_empty() || rel == "." {
            workdir.to_string()
        } else {
            format!("{}/{}", workdir.trim_end_matches('/'), rel)
        }
    }
}

/// The working directory inside the container.
pub fn workdir(sub: &JobSubmission) -> String {
    match &sub.working_dir {
        None => CONTAINER_REPO_DIR.to_string(),
        Some(dir) => container_path(CONTAINER_REPO_DIR, dir),
    }
}

fn container_name(job: &Job) -> String {
    format!("dstack-{}", job.id)
}

/// Makes sure the image is here, pulling it as the policy says.
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    policy: PullPolicy,
    log: &LogSender,
) -> Result<(), Failure> {
    let present = docker.inspect_image(image).await.is_ok();
    match (policy, present) {
        (PullPolicy::Never, false) => {
            return Err(Failure::new(
                "creating_container_error",
                format!("image {image} is not on this host and pull_policy is `never`"),
            ));
        }
        (PullPolicy::Missing | PullPolicy::Never, true) => {
            let _ = log.send(note(format!("image {image} is present"))).await;
            return Ok(());
        }
        _ => {}
    }
    let _ = log.send(note(format!("pulling image {image}"))).await;
    let options = CreateImageOptionsBuilder::new().from_image(image).build();
    let mut pull = docker.create_image(Some(options), None, None);
    let mut last_status = String::new();
    let mut failure = None;
    while let Some(step) = pull.next().await {
        match step {
            Ok(info) => {
                if let Some(status) = info.status
                    && status != last_status
                    && info.progress_detail.is_none()
                {
                    let _ = log.send(note(format!("pull: {status}"))).await;
                    last_status = status;
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    match (failure, present) {
        (None, _) => {}
        // `always` with a copy on the host: the stale copy still runs.
        (Some(e), true) => {
            let _ = log
                .send(note(format!(
                    "pull failed ({e}); using the image on this host"
                )))
                .await;
        }
        (Some(e), false) => {
            return Err(Failure::new(
                "creating_container_error",
                format!(
                    "image {image} is not on this host and pulling it failed: {e}; build or load it first (e.g. `docker image ls`)"
                ),
            ));
        }
    }
    docker.inspect_image(image).await.map(|_| ()).map_err(|e| {
        Failure::new(
            "creating_container_error",
            format!("image {image} is still missing after the pull: {e}"),
        )
    })
}

fn port_key(port: u16) -> String {
    format!("{port}/tcp")
}

/// A host port for a container port: the requested one, else the same
/// number when free, else any.
fn host_port(request: &crate::api::PortRequest) -> String {
    match request.host {
        Some(h) => h.to_string(),
        None if std::net::TcpListener::bind(("127.0.0.1", request.container)).is_ok() => {
            request.container.to_string()
        }
        None => String::new(),
    }
}

/// The container's environment: dstack's directories, the job's own
/// variables, then its id.
fn container_env(job_id: &str, sub: &JobSubmission) -> Vec<String> {
    let mut env: Vec<String> = vec![
        format!("DSTACK_REPO_DIR={CONTAINER_REPO_DIR}"),
        format!("DSTACK_WORKING_DIR={}", workdir(sub)),
    ];
    env.extend(sub.env.iter().map(|(k, v)| format!("{k}={v}")));
    env.push(format!("DSTACK_JOB_ID={job_id}"));
    env
}

/// Each requested port published on the host's loopback.
fn port_bindings(sub: &JobSubmission) -> HashMap<String, Option<Vec<DockerPort>>> {
    let mut bindings: HashMap<String, Option<Vec<DockerPort>>> = HashMap::new();
    for p in &sub.ports {
        bindings.insert(
            port_key(p.container),
            Some(vec![DockerPort {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(host_port(p)),
            }]),
        );
    }
    bindings
}

/// The job's mounts as Docker binds (`source:target[:ro]`).
fn mount_binds(sub: &JobSubmission) -> Vec<String> {
    sub.mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { ":ro" } else { "" };
            format!("{}:{}{mode}", m.source, m.target)
        })
        .collect()
}

/// The NVIDIA device request for the job's GPUs (none when it asks for
/// none); a failure when it asks for GPUs the host does not have.
fn gpu_requests(
    host_gpus: usize,
    sub: &JobSubmission,
) -> Result<Option<Vec<DeviceRequest>>, Failure> {
    let gpus = sub.limits.gpus.unwrap_or(0);
    if gpus > 0 && host_gpus == 0 {
        return Err(Failure::executor(format!(
            "the job asks for {gpus} GPU(s) but this host has no NVIDIA GPU (`nvidia-smi -L` lists none)"
        )));
    }
    Ok((gpus > 0).then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            count: Some(i64::from(gpus)),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..DeviceRequest::default()
        }]
    }))
}

/// The container a job runs in. `host_gpus`: NVIDIA GPUs the host has.
pub fn container_body(
    runner_id: &str,
    host_gpus: usize,
    job_id: &str,
    sub: &JobSubmission,
) -> Result<ContainerCreateBody, Failure> {
    let image = sub
        .image
        .clone()
        .ok_or_else(|| Failure::executor("the Docker executor needs an image".to_string()))?;
    let env = container_env(job_id, sub);
    let bindings = port_bindings(sub);
    let binds = mount_binds(sub);
    let device_requests = gpu_requests(host_gpus, sub)?;
    let (entrypoint, cmd) = match sub.command.split_first() {
        Some((first, rest)) => (Some(vec![first.clone()]), Some(rest.to_vec())),
        None => (None, None),
    };
    let labels = HashMap::from([
        (LABEL_RUNNER.to_string(), runner_id.to_string()),
        (LABEL_JOB.to_string(), job_id.to_string()),
        ("dstack.run".to_string(), sub.run_name.clone()),
    ]);
    Ok(ContainerCreateBody {
        image: Some(image),
        entrypoint,
        cmd,
        env: Some(env),
        working_dir: Some(workdir(sub)),
        user: sub.user.clone(),
        labels: Some(labels),
        exposed_ports: Some(sub.ports.iter().map(|p| port_key(p.container)).collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            binds: (!binds.is_empty()).then_some(binds),
            // Checked at submit (validate); saturating here all the same.
            shm_size: sub.limits.shm_mb.map(|mb| mb_bytes(mb).unwrap_or(i64::MAX)),
            memory: sub
                .limits
                .memory_mb
                .map(|mb| mb_bytes(mb).unwrap_or(i64::MAX)),
            nano_cpus: sub.limits.cpus.map(|c| (c * 1e9) as i64),
            device_requests,
            privileged: Some(sub.privileged),
            init: Some(true),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    })
}

/// Creates the container (not started) and uploads the archives into it.
pub async fn create(
    shared: &Shared,
    docker: &Docker,
    job: &Job,
    log: &LogSender,
) -> Result<String, Failure> {
    let body = container_body(
        &shared.runner_id,
        shared.gpus.len(),
        &job.id,
        &job.submission,
    )?;
    let name = container_name(job);
    // A container left by an earlier attempt of this very job goes first.
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| {
            Failure::new(
                "creating_container_error",
                format!("cannot create the container: {e}"),
            )
        })?;
    upload_all(shared, docker, &created.id, job, log).await?;
    Ok(created.id)
}

/// Puts every archive of the job into the container with one upload.
async fn upload_all(
    shared: &Shared,
    docker: &Docker,
    id: &str,
    job: &Job,
    log: &LogSender,
) -> Result<(), Failure> {
    let archives: &[ArchiveMount] = &job.submission.archives;
    if archives.is_empty() {
        return Ok(());
    }
    let fail = |what: String| Failure::new("creating_container_error", what);
    let workdir = workdir(&job.submission);
    let mut blobs = Vec::new();
    for archive in archives {
        let bytes = std::fs::read(shared.layout.archive(&archive.archive)).map_err(|e| {
            fail(format!(
                "archive {} ({}) is missing: {e}",
                archive.archive, archive.label
            ))
        })?;
        blobs.push((container_path(&workdir, &archive.path), bytes));
    }
    let parts: Vec<(String, &[u8])> = blobs.iter().map(|(p, b)| (p.clone(), &b[..])).collect();
    let tar = crate::archive::rebased_tar(&parts)
        .map_err(|e| fail(format!("cannot prepare the job's files: {e}")))?;
    let size = tar.len();
    let root = UploadToContainerOptionsBuilder::new().path("/").build();
    docker
        .upload_to_container(id, Some(root), bollard::body_full(tar.into()))
        .await
        .map_err(|e| fail(format!("cannot upload the job's files: {e}")))?;
    for (archive, (target, _)) in archives.iter().zip(&blobs) {
        let _ = log
            .send(note(format!("unpacked {} into {target}", archive.label)))
            .await;
    }
    let _ = log
        .send(note(format!("uploaded {size} bytes into the container")))
        .await;
    Ok(())
}

/// Starts the container; returns the published ports (asked of the
/// engine only when the job publishes any).
pub async fn start(
    docker: &Docker,
    id: &str,
    publishes: bool,
) -> Result<Vec<PortBinding>, Failure> {
    if let Err(e) = docker.start_container(id, None).await {
        let text = e.to_string();
        let reason = if text.contains("port is already allocated")
            || text.contains("address already in use")
        {
            "ports_binding_failed"
        } else {
            "creating_container_error"
        };
        return Err(Failure::new(
            reason,
            format!("cannot start the container: {text}"),
        ));
    }
    if !publishes {
        return Ok(Vec::new());
    }
    let inspect = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| Failure::executor(format!("cannot inspect the started container: {e}")))?;
    let mut ports = Vec::new();
    for (key, bindings) in inspect
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
    {
        let Some(container) = key.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            if let Some(host) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) {
                let host_ip = b.host_ip.unwrap_or_else(|| "127.0.0.1".into());
                let listen = host_ip.parse::<std::net::IpAddr>().map_or_else(
                    |_| format!("{host_ip}:{host}"),
                    |ip| std::net::SocketAddr::new(ip, host).to_string(),
                );
                ports.push(PortBinding {
                    container,
                    host_ip,
                    host,
                    listen: Some(listen),
                });
            }
        }
    }
    ports.sort_by_key(|p| p.container);
    Ok(ports)
}

/// The container's output, as one stream of stdout/stderr frames.
pub type Output = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// Attaches to the container's stdout and stderr; called before the
/// container starts (as `docker run` does) so the first line is streamed
/// to us as it is written, not read back later from the engine's log file.
pub async fn attach(docker: &Docker, id: &str) -> Result<Output, Failure> {
    let options = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .build();
    docker
        .attach_container(id, Some(options))
        .await
        .map(|attached| attached.output)
        .map_err(|e| Failure::executor(format!("cannot attach to the container: {e}")))
}

/// Streams the container's output (from [`attach`]) into the log until
/// it exits.
pub fn pump_logs(mut stream: Output, log: LogSender) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut out = LineSplitter::new(LogStream::Stdout);
        let mut err = LineSplitter::new(LogStream::Stderr);
        while let Some(chunk) = stream.next().await {
            let lines = match chunk {
                Ok(LogOutput::StdErr { message }) => err.feed(&message),
                Ok(LogOutput::StdIn { .. }) => continue,
                Ok(output) => out.feed(&output.into_bytes()),
                Err(e) => {
                    let _ = log
                        .send(note(format!("log stream from Docker broke: {e}")))
                        .await;
                    break;
                }
            };
            for line in lines {
                if log.send(line).await.is_err() {
                    return;
                }
            }
        }
        for rest in [out.finish(), err.finish()].into_iter().flatten() {
            let _ = log.send(rest).await;
        }
    })
}

/// Waits for the container to exit; its exit code.
pub async fn wait(docker: &Docker, id: &str) -> i32 {
    let mut stream = docker.wait_container(id, None);
    match stream.next().await {
        Some(Ok(response)) => response.status_code as i32,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code as i32,
        _ => docker
            .inspect_container(id, None)
            .await
            .ok()
            .and_then(|i| i.state)
            .and_then(|s| s.exit_code)
            .map_or(-1, |c| c as i32),
    }
}

/// Sends a signal to the container's main process.
pub async fn signal(docker: &Docker, id: &str, signal: &str) {
    let options = KillContainerOptionsBuilder::new().signal(signal).build();
    let _ = docker.kill_container(id, Some(options)).await;
}

/// Copies the artifact paths out of the (exited) container into `dest`.
pub async fn collect_artifacts(
    docker: &Docker,
    id: &str,
    sub: &JobSubmission,
    dest: &Path,
    limit: u64,
    log: &LogSender,
) {
    let workdir = workdir(sub);
    for path in &sub.artifacts {
        let source = container_path(&workdir, path);
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&source)
            .build();
        let mut stream = docker.download_from_container(id, Some(options));
        let mut tar = Vec::new();
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => tar.extend_from_slice(&bytes),
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = failed {
            let _ = log
                .send(note(format!("artifact {path}: not saved ({source}: {e})")))
                .await;
            continue;
        }
        // The archive holds the path's last component; unpack next to it.
        let parent = Path::new(path.trim_start_matches('/'))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match crate::archive::unpack_tar(&tar[..], &dest.join(parent), limit) {
            Ok(done) => {
                let _ = log
                    .send(note(format!(
                        "artifact {path}: saved {} files, {} bytes",
                        done.files, done.bytes
                    )))
                    .await;
            }
            Err(e) => {
                let _ = log
                    .send(note(format!("artifact {path}: not saved: {e}")))
                    .await;
            }
        }
    }
}

/// Removes the container (and its anonymous volumes).
pub async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(id, Some(options)).await;
}

/// Containers this runner made, with their job labels.
pub async fn own_containers(docker: &Docker, runner_id: &str) -> Vec<(String, String)> {
    let filters = HashMap::from([("label", vec![format!("{LABEL_RUNNER}={runner_id}")])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            let job = c.labels.as_ref()?.get(LABEL_JOB)?.clone();
            Some((c.id?, job))
        })
        .collect()
}

pub mod engine;
#[cfg(test)]
mod tests;
