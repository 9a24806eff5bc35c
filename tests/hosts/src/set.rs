//! A set of test hosts built together, sharing the user keys tests log in
//! with; dropping the set tears every host down.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use crate::error::HarnessError;
use crate::fs::{self, PRIVATE_DIRS};
use crate::host::Host;
use crate::keys::{KeyKind, KeyPair};
use crate::spec::{HostSpec, TestUser};
use crate::{net, slot, state};

/// Hosts for one test.
#[derive(Debug)]
pub struct HostSet {
    // Field order is drop order: hosts first (behind hosts before the hosts
    // they are reached through), then the key directory.
    hosts: Vec<Host>,
    user_key: KeyPair,
    rsa_key: Option<KeyPair>,
    keys_dir: tempfile::TempDir,
}

/// Collects host specs; see [`HostSet::builder`].
#[derive(Debug, Default)]
pub struct HostSetBuilder {
    specs: Vec<HostSpec>,
    rsa: bool,
}

impl HostSetBuilder {
    /// Adds a host.
    pub fn host(mut self, spec: HostSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// Also authorizes an RSA user key ([`HostSet::rsa_key`]).
    pub fn rsa_key(mut self) -> Self {
        self.rsa = true;
        self
    }

    /// Checks the machine, then starts every host (about a second for two).
    pub fn build(self) -> Result<HostSet, HarnessError> {
        validate(&self.specs)?;
        preflight()?;
        slot::sweep_stale()?;
        net::guard_supernet()?;
        let keys_dir = tempfile::Builder::new()
            .prefix("dstack-testhosts-keys-")
            .tempdir()
            .map_err(|e| HarnessError::io(std::env::temp_dir(), e))?;
        let user_key = KeyPair::generate(keys_dir.path(), "id_ed25519", KeyKind::Ed25519, None)?;
        let rsa_key = self
            .rsa
            .then(|| KeyPair::generate(keys_dir.path(), "id_rsa", KeyKind::Rsa, None))
            .transpose()?;
        let mut set = HostSet {
            hosts: Vec::new(),
            user_key,
            rsa_key,
            keys_dir,
        };
        let docker_clients = fs::docker_clients();
        for spec in &self.specs {
            let jump = spec
                .behind
                .as_ref()
                .map(|name| (name.clone(), set[name.as_str()].netns()));
            let keys: Vec<&KeyPair> = std::iter::once(&set.user_key).chain(&set.rsa_key).collect();
            let host = Host::create(spec, slot::acquire()?, jump, &keys, &docker_clients)?;
            set.hosts.push(host);
        }
        Ok(set)
    }
}

fn validate(specs: &[HostSpec]) -> Result<(), HarnessError> {
    if specs.is_empty() {
        return Err(HarnessError::Spec("no hosts".to_owned()));
    }
    let mut seen = HashSet::new();
    for spec in specs {
        let valid_name = !spec.name.is_empty()
            && spec.name.len() <= 63
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_name {
            return Err(HarnessError::Spec(format!(
                "host name {:?} is not a hostname (letters, digits, '-')",
                spec.name
            )));
        }
        if let Some(jump) = &spec.behind
            && !seen.contains(jump.as_str())
        {
            return Err(HarnessError::Spec(format!(
                "host {} is behind {jump}, which must be declared before it",
                spec.name
            )));
        }
        if !seen.insert(spec.name.as_str()) {
            return Err(HarnessError::Spec(format!(
                "two hosts are named {}",
                spec.name
            )));
        }
    }
    Ok(())
}

/// Checks that this machine can run test hosts, naming what is missing.
pub fn preflight() -> Result<(), HarnessError> {
    let missing = |what: String| HarnessError::Unsupported { missing: what };
    if state::user_ids("root").map(|ids| ids.0) != Some(0) || !is_root() {
        return Err(missing(
            "root (namespaces and veth pairs need CAP_SYS_ADMIN and CAP_NET_ADMIN)".to_owned(),
        ));
    }
    let binaries = [
        "/usr/sbin/sshd",
        "/usr/bin/ssh",
        "/usr/bin/ssh-keygen",
        "/usr/bin/nsenter",
        "/usr/bin/unshare",
        "/usr/bin/sudo",
        "/usr/bin/sha256sum",
    ];
    for binary in binaries {
        if !Path::new(binary).exists() {
            return Err(missing(format!(
                "{binary} (package {})",
                package_of(binary)
            )));
        }
    }
    for tool in ["ip", "ss"] {
        if !["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|dir| Path::new(dir).join(tool).exists())
        {
            return Err(missing(format!("`{tool}` (package iproute2)")));
        }
    }
    for user in TestUser::ALL {
        if state::user_ids(user.name()).is_none() {
            return Err(missing(format!("the test user {}", user.name())));
        }
    }
    for (dir, _) in PRIVATE_DIRS {
        if !Path::new(dir).is_dir() {
            return Err(missing(format!(
                "the directory {dir} (a mount point of every host)"
            )));
        }
    }
    probe_netns().map_err(|why| missing(format!("permission to create network namespaces ({why})")))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

fn package_of(binary: &str) -> &'static str {
    match binary {
        "/usr/sbin/sshd" => "openssh-server",
        "/usr/bin/ssh" | "/usr/bin/ssh-keygen" => "openssh-client",
        "/usr/bin/sudo" => "sudo",
        "/usr/bin/sha256sum" => "coreutils",
        _ => "util-linux",
    }
}

fn probe_netns() -> Result<(), String> {
    let name = format!("dth-probe-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &name]).output();
    match added {
        Ok(output) if output.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
            Ok(())
        }
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
        Err(e) => Err(format!("cannot run `ip`: {e}")),
    }
}

impl HostSet {
    /// Starts describing a set of hosts.
    pub fn builder() -> HostSetBuilder {
        HostSetBuilder::default()
    }

    /// The hosts, in declaration order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name() == name)
    }

    /// The ed25519 user key that root and every listed user accept.
    pub fn user_key(&self) -> &KeyPair {
        &self.user_key
    }

    /// The RSA user key, when the builder asked for one.
    pub fn rsa_key(&self) -> Option<&KeyPair> {
        self.rsa_key.as_ref()
    }

    /// A directory for a test's own keys and files (removed with the set).
    pub fn scratch_dir(&self) -> &Path {
        self.keys_dir.path()
    }

    /// The machine's real `ssh` client, set up to log in to host `name` as
    /// `user` with the set's user key (through its jump hosts, if any), with
    /// no host key checking and a 5 s connect timeout. Append the remote
    /// command with `.arg(...)`.
    pub fn ssh_command(&self, name: &str, user: &str) -> Command {
        let host = &self[name];
        let mut command = Command::new("ssh");
        command.args(self.ssh_options());
        if let Some(jump) = host.jump_host() {
            let proxy = self.proxy_command(jump);
            command.arg("-o").arg(format!("ProxyCommand={proxy}"));
        }
        command.arg(format!("{user}@{}", host.addr()));
        command
    }

    fn ssh_options(&self) -> Vec<String> {
        let key = self.user_key.private_path.display().to_string();
        [
            "-i",
            &key,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "IdentitiesOnly=yes",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// `ssh ... -W %h:%p root@JUMP`, nested for chains.
    fn proxy_command(&self, jump: &str) -> String {
        let host = &self[jump];
        let mut words = vec!["ssh".to_owned()];
        words.extend(self.ssh_options());
        if let Some(next) = host.jump_host() {
            words.push("-o".to_owned());
            words.push(format!("ProxyCommand={}", self.proxy_command(next)));
        }
        words.extend([
            "-W".to_owned(),
            "%h:%p".to_owned(),
            format!("root@{}", host.addr()),
        ]);
        shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
    }
}

impl std::ops::Index<&str> for HostSet {
    type Output = Host;

    fn index(&self, name: &str) -> &Host {
        self.get(name).unwrap_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(Host::name).collect();
            panic!("no host named {name:?} in this set (hosts: {names:?})")
        })
    }
}

impl Drop for HostSet {
    fn drop(&mut self) {
        while let Some(host) = self.hosts.pop() {
            drop(host);
        }
    }
}
