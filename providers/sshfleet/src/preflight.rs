//! Whether the hosts of an SSH fleet can run it, before anything is put on
//! them: each host is connected and probed (all in parallel, each bounded
//! by a timeout) and every problem of every host is returned together, as
//! typed failures whose messages name the host and the fix.

use std::fmt;
use std::time::Duration;

use dstack_ssh::{ConnectOptions, ErrorKind, Session, SshError, Target};
use tokio::task::JoinSet;

use crate::probe::{Arch, Docker, HostFacts, Privilege, ProbeError, probe};

/// What the fleet's runs need from each host.
#[derive(Debug, Clone)]
pub struct Needs {
    /// The runner's install directory (its filesystem is checked for space).
    pub install_dir: String,
    /// Runs use container images, so Docker must be usable.
    pub docker: bool,
    /// Free space needed on the install directory's filesystem, in MiB.
    pub min_disk_free_mib: u64,
    /// Bound of connecting to and probing one host.
    pub host_timeout: Duration,
}

impl Default for Needs {
    fn default() -> Self {
        Self {
            install_dir: "/opt/dstack-runner".into(),
            docker: true,
            min_disk_free_mib: 10 * 1024,
            host_timeout: Duration::from_secs(30),
        }
    }
}

/// What is wrong with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Connecting failed: unreachable, auth refused, host key changed,
    /// or another SSH failure (identity file, protocol, channel); the
    /// transport's own kind, shown with the fix.
    Ssh(ErrorKind),
    /// Connecting and probing took longer than the host timeout.
    TimedOut(Duration),
    /// The probe's output was unreadable.
    Probe(String),
    /// The user is not root and has no passwordless sudo.
    NoSudo {
        /// The login user.
        user: String,
    },
    /// Runs need Docker and the user cannot use it.
    NoDocker(Docker),
    /// dstack has no runner for the architecture.
    UnsupportedArch(String),
    /// Too little free disk.
    LowDisk {
        /// Free MiB on the install directory's filesystem.
        free_mib: u64,
        /// MiB needed.
        needed_mib: u64,
    },
}

/// One problem of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightFailure {
    /// The host's label (`user@host:port`).
    pub host: String,
    /// The problem.
    pub kind: FailureKind,
}

impl fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match &self.kind {
            FailureKind::Ssh(ErrorKind::Unreachable(why)) => write!(
                f,
                "{host}: cannot connect: {why}; check the hostname, port and proxy_jump, and that sshd runs and a firewall lets you in"
            ),
            FailureKind::Ssh(ErrorKind::AuthRefused { user }) => write!(
                f,
                "{host}: authentication refused for user {user}; add the public key of identity_file to ~{user}/.ssh/authorized_keys on the host"
            ),
            FailureKind::Ssh(ErrorKind::HostKeyChanged { expected, observed }) => write!(
                f,
                "{host}: host key changed (pinned {expected}, presented {observed}); if the host was reinstalled, verify the new key and update the pinned one"
            ),
            FailureKind::Ssh(kind) => write!(f, "{host}: {kind}"),
            FailureKind::TimedOut(after) => write!(
                f,
                "{host}: no answer within {}s; check that the host is up and reachable",
                after.as_secs()
            ),
            FailureKind::Probe(why) => write!(f, "{host}: cannot read the host's facts: {why}"),
            FailureKind::NoSudo { user } => write!(
                f,
                "{host}: user {user} is not root and has no passwordless sudo; log in as root or add `{user} ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/"
            ),
            FailureKind::NoDocker(state) => write!(
                f,
                "{host}: runs need Docker and it is {}; install Docker and start its daemon",
                match state {
                    Docker::Absent => "not installed",
                    _ => "not usable (its daemon does not answer)",
                }
            ),
            FailureKind::UnsupportedArch(arch) => write!(
                f,
                "{host}: architecture {arch} is not supported; use an x86_64 or aarch64 host"
            ),
            FailureKind::LowDisk {
                free_mib,
                needed_mib,
            } => write!(
                f,
                "{host}: {free_mib} MiB free on the install directory's filesystem, {needed_mib} MiB needed; free some space"
            ),
        }
    }
}

/// The outcome of checking a set of hosts.
#[derive(Debug, Clone, Default)]
pub struct PreflightReport {
    /// Facts of every host that could be probed, by label, in input order.
    pub facts: Vec<(String, HostFacts)>,
    /// Every problem found, grouped by host in input order.
    pub failures: Vec<PreflightFailure>,
}

/// The failure a connect error stands for.
pub fn connect_failure(error: &SshError) -> FailureKind {
    FailureKind::Ssh(error.kind().clone())
}

/// What in `facts` keeps the host from running the fleet (empty: none).
pub fn check_facts(user: &str, facts: &HostFacts, needs: &Needs) -> Vec<FailureKind> {
    let mut failures = Vec::new();
    if facts.privilege == Privilege::None {
        failures.push(FailureKind::NoSudo { user: user.into() });
    }
    if needs.docker && matches!(facts.docker, Docker::Absent | Docker::Unusable) {
        failures.push(FailureKind::NoDocker(facts.docker));
    }
    if let Arch::Unsupported(arch) = &facts.arch {
        failures.push(FailureKind::UnsupportedArch(arch.clone()));
    }
    if facts.disk_free_mib < needs.min_disk_free_mib {
        failures.push(FailureKind::LowDisk {
            free_mib: facts.disk_free_mib,
            needed_mib: needs.min_disk_free_mib,
        });
    }
    failures
}

/// Connects to and probes one host, bounded by `needs.host_timeout`.
pub async fn check_host(
    target: &Target,
    options: &ConnectOptions,
    needs: &Needs,
) -> Result<HostFacts, Vec<FailureKind>> {
    let bound = needs.host_timeout;
    let facts = tokio::time::timeout(bound, connect_and_probe(target, options, needs))
        .await
        .map_err(|_| vec![FailureKind::TimedOut(bound)])??;
    match check_facts(&target.endpoint.user, &facts, needs) {
        failures if failures.is_empty() => Ok(facts),
        failures => Err(failures),
    }
}

async fn connect_and_probe(
    target: &Target,
    options: &ConnectOptions,
    needs: &Needs,
) -> Result<HostFacts, Vec<FailureKind>> {
    let session = Session::connect(target, options)
        .await
        .map_err(|e| vec![connect_failure(&e)])?;
    let probed = probe(&session, &needs.install_dir, needs.host_timeout).await;
    session.disconnect().await;
    probed.map_err(|e| match e {
        ProbeError::Ssh(e) => vec![connect_failure(&e)],
        ProbeError::Parse(e) => vec![FailureKind::Probe(e.to_string())],
    })
}

/// Checks all `targets` in parallel and returns every failure together.
/// A host that passes has its facts in the report.
pub async fn check_hosts(
    targets: &[Target],
    options: &ConnectOptions,
    needs: &Needs,
) -> PreflightReport {
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let (options, needs) = (*options, needs.clone());
        tasks.spawn(async move { (index, check_host(&target, &options, &needs).await) });
    }
    let mut outcomes = tasks.join_all().await;
    outcomes.sort_by_key(|(index, _)| *index);
    let mut report = PreflightReport::default();
    for (index, outcome) in outcomes {
        let host = targets[index].label();
        match outcome {
            Ok(facts) => report.facts.push((host, facts)),
            Err(kinds) => report
                .failures
                .extend(kinds.into_iter().map(|kind| PreflightFailure {
                    host: host.clone(),
                    kind,
                })),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            arch: Arch::X86_64,
            cpus: 8,
            memory_mib: 32768,
            disk_free_mib: 100 * 1024,
            gpus: Vec::new(),
            docker: Docker::Usable,
            privilege: Privilege::PasswordlessSudo,
            systemd: true,
        }
    }

    #[test]
    fn a_good_host_has_no_failures() {
        assert!(check_facts("ubuntu", &facts(), &Needs::default()).is_empty());
    }

    #[test]
    fn every_problem_of_a_host_is_listed() {
        let bad = HostFacts {
            arch: Arch::Unsupported("riscv64".into()),
            disk_free_mib: 100,
            docker: Docker::Absent,
            privilege: Privilege::None,
            ..facts()
        };
        let failures = check_facts("ubuntu", &bad, &Needs::default());
        assert_eq!(
            failures,
            vec![
                FailureKind::NoSudo {
                    user: "ubuntu".into()
                },
                FailureKind::NoDocker(Docker::Absent),
                FailureKind::UnsupportedArch("riscv64".into()),
                FailureKind::LowDisk {
                    free_mib: 100,
                    needed_mib: 10240
                },
            ]
        );
    }

    #[test]
    fn docker_is_checked_only_when_images_are_needed() {
        let no_docker = HostFacts {
            docker: Docker::Unusable,
            ..facts()
        };
        let needs = Needs {
            docker: false,
            ..Needs::default()
        };
        assert!(check_facts("root", &no_docker, &needs).is_empty());
        let sudo_docker = HostFacts {
            docker: Docker::WithSudo,
            ..facts()
        };
        assert!(check_facts("root", &sudo_docker, &Needs::default()).is_empty());
    }

    #[test]
    fn messages_name_the_host_and_the_fix() {
        let failure = PreflightFailure {
            host: "ubuntu@10.0.0.5:22".into(),
            kind: FailureKind::NoSudo {
                user: "ubuntu".into(),
            },
        };
        let text = failure.to_string();
        assert!(text.starts_with("ubuntu@10.0.0.5:22: "), "{text}");
        assert!(text.contains("NOPASSWD"), "{text}");
    }
}
