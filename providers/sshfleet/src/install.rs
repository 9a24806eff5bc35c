//! Putting the runner on a host over SSH and taking it off again.
//!
//! [`install`] uploads this build's runner binary (verified by SHA-256; the
//! host needs no internet), places it under the install directory as root
//! (directly, or through passwordless `sudo` for another user), and starts
//! it as a service listening on the host's loopback only, with its own
//! token: a systemd unit where systemd runs the host, otherwise a
//! supervisor process in its own session that restarts the runner and
//! outlives the SSH connection. Installing the same binary again while the
//! service is up changes nothing; a different binary is put in place and
//! the runner restarted on it (callers do this between jobs). [`uninstall`]
//! stops the service, the runner and its containers, removes every file it
//! put there and says what it removed.

mod scripts;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dstack_ssh::{Session, SshError, UploadSource};
use sha2::{Digest, Sha256};

pub use scripts::{Layout, UNIT_PATH};

/// The runner binary to install: a local file and how it is told to serve.
#[derive(Debug, Clone)]
pub struct RunnerBinary {
    path: PathBuf,
    serve_args: Vec<String>,
    sha256: String,
}

impl RunnerBinary {
    /// `path` served with `serve_args` before the flags (`["serve"]` for
    /// `dstack-runner`, `["runner", "serve"]` for the `dstack` binary).
    pub fn new(path: &Path, serve_args: &[&str]) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            serve_args: serve_args.iter().map(|s| s.to_string()).collect(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        })
    }

    /// Its SHA-256 (hex): the installed version.
    pub fn version(&self) -> &str {
        &self.sha256
    }
}

/// Where and how long.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Install directory on the host.
    pub dir: String,
    /// Loopback port of the runner.
    pub port: u16,
    /// Bound of each command and of the upload.
    pub command_timeout: Duration,
    /// How long a started runner may take to listen.
    pub start_patience: Duration,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            dir: "/opt/dstack-runner".into(),
            port: 10999,
            command_timeout: Duration::from_secs(60),
            start_patience: Duration::from_secs(20),
        }
    }
}

/// How the runner is kept running on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// A systemd unit ([`UNIT_PATH`]).
    Systemd,
    /// A supervisor process started in its own session.
    Supervised,
}

/// What an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing was there; now the runner is.
    Installed,
    /// Another version was there; replaced and restarted.
    Upgraded,
    /// This version was there but not running; started.
    Restarted,
    /// This version was up; nothing done.
    Unchanged,
}

/// A runner up on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// How it is kept running.
    pub service: ServiceKind,
    /// What this install changed.
    pub change: Change,
    /// Its loopback port.
    pub port: u16,
    /// Its bearer token.
    pub token: String,
    /// Its binary's SHA-256.
    pub version: String,
}

/// What an uninstall removed (`removed` lines of the host, in order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Removed {
    /// The unit file, containers (`container ID`) and the install directory.
    pub items: Vec<String>,
}

/// Why an install or uninstall failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallErrorKind {
    /// The SSH transport failed (see the detail).
    Ssh,
    /// The login user is not root and has no passwordless sudo.
    NoSudo,
    /// A step's script failed on the host.
    Step,
    /// The runner did not listen within the patience.
    NotStarted,
}

/// An install failure on one host: the host, what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError {
    /// The host (`user@host:port`).
    pub host: String,
    /// What failed.
    pub kind: InstallErrorKind,
    /// The message, with the fix.
    pub detail: String,
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.host, self.detail)
    }
}

impl std::error::Error for InstallError {}

fn error(session: &Session, kind: InstallErrorKind, detail: impl Into<String>) -> InstallError {
    InstallError {
        host: session.label().to_string(),
        kind,
        detail: detail.into(),
    }
}

fn ssh_error(session: &Session, doing: &str, e: SshError) -> InstallError {
    error(session, InstallErrorKind::Ssh, format!("{doing}: {e}"))
}

/// Installs (or upgrades, or leaves) the runner on the host of `session`.
pub async fn install(
    session: &Session,
    binary: &RunnerBinary,
    options: &InstallOptions,
) -> Result<Installed, InstallError> {
    let layout = layout(options, binary);
    let status = read_status(session, &layout, options).await?;
    let root = Host {
        session,
        root: status.root,
        options,
    };
    let service = if status.systemd {
        ServiceKind::Systemd
    } else {
        ServiceKind::Supervised
    };
    let current = status.version.as_deref() == Some(binary.version());
    let change = match (current, status.alive, status.version.is_some()) {
        (true, true, _) => Change::Unchanged,
        (true, false, _) => Change::Restarted,
        (false, _, true) => Change::Upgraded,
        (false, _, false) => Change::Installed,
    };
    if !current {
        put_binary(&root, &layout, binary).await?;
    }
    if change != Change::Unchanged {
        root.script(&start_script(service, &layout), "starting the runner")
            .await?;
        wait_listening(&root, &layout).await?;
    }
    let token = root
        .script(&scripts::read_token(&layout), "reading the runner's token")
        .await?;
    Ok(Installed {
        service,
        change,
        port: options.port,
        token: token.trim().to_string(),
        version: binary.version().to_string(),
    })
}

/// Removes the runner, its service, containers and files from the host.
pub async fn uninstall(
    session: &Session,
    options: &InstallOptions,
) -> Result<Removed, InstallError> {
    let layout = Layout {
        dir: options.dir.clone(),
        port: options.port,
        serve_args: Vec::new(),
    };
    let status = read_status(session, &layout, options).await?;
    let root = Host {
        session,
        root: status.root,
        options,
    };
    let out = root
        .script(&scripts::uninstall(&layout), "removing the runner")
        .await?;
    Ok(Removed {
        items: out
            .lines()
            .filter_map(|l| l.strip_prefix("removed "))
            .map(String::from)
            .collect(),
    })
}

fn layout(options: &InstallOptions, binary: &RunnerBinary) -> Layout {
    Layout {
        dir: options.dir.clone(),
        port: options.port,
        serve_args: binary.serve_args.clone(),
    }
}

fn start_script(service: ServiceKind, layout: &Layout) -> String {
    match service {
        ServiceKind::Systemd => scripts::start_systemd(layout),
        ServiceKind::Supervised => scripts::start_supervised(layout),
    }
}

/// Reads the host's status as the login user; fails without root or sudo.
async fn read_status(
    session: &Session,
    layout: &Layout,
    options: &InstallOptions,
) -> Result<scripts::Status, InstallError> {
    let text = session
        .run(&scripts::status(layout), options.command_timeout)
        .await
        .map_err(|e| ssh_error(session, "reading the runner's status", e))?;
    let status = scripts::parse_status(&text).map_err(|key| {
        error(
            session,
            InstallErrorKind::Step,
            format!("the status script printed no `{key}=` line (is the login shell POSIX sh?)"),
        )
    })?;
    if !status.privileged {
        return Err(error(
            session,
            InstallErrorKind::NoSudo,
            "the login user is not root and has no passwordless sudo; the runner is installed as root: \
             log in as root, or allow this user `sudo` without a password (NOPASSWD in /etc/sudoers.d)",
        ));
    }
    Ok(status)
}

/// Commands run as root on one host.
struct Host<'a> {
    session: &'a Session,
    root: bool,
    options: &'a InstallOptions,
}

impl Host<'_> {
    /// Runs `script` as root (`sudo -n` for another user); its stdout.
    async fn script(&self, script: &str, doing: &str) -> Result<String, InstallError> {
        let quoted = scripts::q(script);
        let command = if self.root {
            format!("sh -c {quoted}")
        } else {
            format!("sudo -n sh -c {quoted}")
        };
        let out = self
            .session
            .exec(&command, self.options.command_timeout)
            .await
            .map_err(|e| ssh_error(self.session, doing, e))?;
        if out.success() {
            return Ok(out.stdout_text());
        }
        Err(error(
            self.session,
            InstallErrorKind::Step,
            format!(
                "{doing} failed ({:?}): {}",
                out.status,
                out.stderr_text().trim()
            ),
        ))
    }
}

/// Uploads the binary to a staging path the login user may write, then
/// puts it in place as root.
async fn put_binary(
    host: &Host<'_>,
    layout: &Layout,
    binary: &RunnerBinary,
) -> Result<(), InstallError> {
    let staged = format!("/tmp/dstack-runner-{}", &binary.version()[..16]);
    host.session
        .upload(
            UploadSource::File(&binary.path),
            &staged,
            0o700,
            host.options.command_timeout,
        )
        .await
        .map_err(|e| ssh_error(host.session, "uploading the runner", e))?;
    host.script(
        &scripts::place_binary(layout, &staged, binary.version()),
        "putting the runner in place",
    )
    .await
    .map(drop)
}

/// Waits until the runner has published a live endpoint; the log's tail
/// is in the error when it does not.
async fn wait_listening(host: &Host<'_>, layout: &Layout) -> Result<(), InstallError> {
    let deadline = Instant::now() + host.options.start_patience;
    loop {
        let out = host
            .script(&scripts::endpoint_check(layout), "checking the runner")
            .await?;
        if out.lines().any(|l| l.starts_with("pid=")) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let tail = host
                .script(&scripts::log_tail(layout), "reading the runner's log")
                .await?;
            return Err(error(
                host.session,
                InstallErrorKind::NotStarted,
                format!(
                    "the runner did not listen on 127.0.0.1:{} within {:?}; its log ends:\n{}",
                    layout.port,
                    host.options.start_patience,
                    tail.trim_end()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
