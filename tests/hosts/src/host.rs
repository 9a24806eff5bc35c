//! One running test host: its sshd, its namespaces, and what a test does to
//! it (inspect as root, cut the network, kill sshd, reboot, rotate the host
//! key). Dropping it tears everything down.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cmd::{self, CmdOutput};
use crate::error::HarnessError;
use crate::fs::{self, DockerClient, Layout};
use crate::keys::{KeyKind, KeyPair};
use crate::slot::{self, Slot};
use crate::spec::{HostSpec, TestUser};
use crate::{net, sshd, state};

/// The `PATH` of processes the harness starts on a host.
pub(crate) const STD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Default)]
struct Procs {
    /// `unshare`, the parent of the host's init.
    holder: Option<Child>,
    /// The host's init (pid 1 inside, this pid outside); its namespaces are
    /// the host's.
    init: Option<u32>,
    /// `nsenter`, the parent of the host's sshd.
    sshd: Option<Child>,
}

/// The children of process `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .collect()
}

/// Kills `child` (an `nsenter`) and what it started in the host.
fn kill_tree(mut child: Child) {
    for grandchild in children_of(child.id()) {
        let _ = Command::new("kill")
            .args(["-KILL", &grandchild.to_string()])
            .output();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A test host. Obtain it from a [`crate::HostSet`].
#[derive(Debug)]
pub struct Host {
    name: String,
    jump: Option<(String, String)>,
    users: Vec<TestUser>,
    docker: bool,
    setup_script: String,
    procs: Mutex<Procs>,
    host_key: Mutex<KeyPair>,
    slot: Slot,
}

impl Host {
    /// Sets up a host in `slot`; `jump` is the name and network namespace of
    /// the host it is reachable through. On error, what was made is removed.
    pub(crate) fn create(
        spec: &HostSpec,
        slot: Slot,
        jump: Option<(String, String)>,
        user_keys: &[&KeyPair],
        docker_clients: &[DockerClient],
    ) -> Result<Self, HarnessError> {
        let slot_dir = slot.state_dir();
        let host_key =
            state::prepare(&slot_dir, spec, slot.host_addr(), user_keys, docker_clients)?;
        let setup_script = fs::setup_script(&Layout {
            slot_dir: &slot_dir,
            hostname: &spec.name,
            docker: spec.docker,
            docker_clients,
        });
        let host = Self {
            name: spec.name.clone(),
            jump,
            users: spec.users.clone(),
            docker: spec.docker,
            setup_script,
            procs: Mutex::new(Procs::default()),
            host_key: Mutex::new(host_key),
            slot,
        };
        net::create(&host.slot, host.outer_netns())?;
        host.boot()?;
        Ok(host)
    }

    /// The name given in its spec (also its hostname).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address its sshd listens on (port 22).
    pub fn addr(&self) -> Ipv4Addr {
        self.slot.host_addr()
    }

    /// The port its sshd listens on.
    pub fn port(&self) -> u16 {
        22
    }

    /// The address the host sees connections from: the machine's (or the
    /// jump host's) end of its link.
    pub fn peer_addr(&self) -> Ipv4Addr {
        self.slot.outer_addr()
    }

    /// The name of the host it is reachable through, if any.
    pub fn jump_host(&self) -> Option<&str> {
        self.jump.as_ref().map(|(name, _)| name.as_str())
    }

    /// Its network namespace (`ip netns` name).
    pub fn netns(&self) -> String {
        self.slot.netns()
    }

    /// The slot it occupies.
    pub fn slot_index(&self) -> u32 {
        self.slot.index()
    }

    /// Where its files live on the machine (removed on drop).
    pub fn state_dir(&self) -> PathBuf {
        self.slot.state_dir()
    }

    /// The users (besides root) that can log in.
    pub fn users(&self) -> &[TestUser] {
        &self.users
    }

    /// Whether it sees the machine's Docker engine.
    pub fn has_docker(&self) -> bool {
        self.docker
    }

    /// Its current host key (public line and `SHA256:` fingerprint).
    pub fn host_key(&self) -> KeyPair {
        self.host_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn outer_netns(&self) -> Option<&str> {
        self.jump.as_ref().map(|(_, netns)| netns.as_str())
    }

    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sshd_log(&self) -> PathBuf {
        self.slot.state_dir().join("sshd.log")
    }

    /// The host's sshd log (`sshd -e`, LogLevel VERBOSE) so far.
    pub fn sshd_log_text(&self) -> String {
        std::fs::read_to_string(self.sshd_log()).unwrap_or_default()
    }

    /// Starts the holder (the mounts) and sshd.
    fn boot(&self) -> Result<(), HarnessError> {
        let holder = self.start_holder()?;
        let init = children_of(holder.id()).first().copied();
        self.procs().holder = Some(holder);
        let init = init.ok_or_else(|| HarnessError::HostStart {
            host: self.name.clone(),
            what: "its init process vanished after mounting".to_owned(),
            log: String::new(),
        })?;
        self.procs().init = Some(init);
        let sshd = sshd::start(&self.name, init, self.addr(), &self.sshd_log())?;
        self.procs().sshd = Some(sshd);
        Ok(())
    }

    fn start_holder(&self) -> Result<Child, HarnessError> {
        let netns = self.netns();
        let mut command = Command::new("ip");
        command
            .args([
                "netns", "exec", &netns, "unshare", "--mount", "--uts", "--pid",
            ])
            .args([
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(&self.setup_script)
            .env_clear()
            .env("PATH", STD_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            command: "ip netns exec ... unshare".to_owned(),
            source,
        })?;
        let mut first_line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut first_line);
        }
        if first_line.trim() == "ready" {
            return Ok(child);
        }
        let _ = child.kill();
        let output = child
            .wait_with_output()
            .map_err(|source| HarnessError::Spawn {
                command: "unshare".to_owned(),
                source,
            })?;
        Err(HarnessError::HostStart {
            host: self.name.clone(),
            what: format!(
                "mounting its file system failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            log: String::new(),
        })
    }

    fn init_pid(&self) -> Result<u32, HarnessError> {
        let mut procs = self.procs();
        if let Some(holder) = procs.holder.as_mut()
            && matches!(holder.try_wait(), Ok(None))
            && let Some(init) = procs.init
        {
            return Ok(init);
        }
        Err(HarnessError::Spec(format!(
            "host {} is not running (rebooting or torn down)",
            self.name
        )))
    }

    /// Runs `script` with `/bin/sh -c` as root inside the host (its network,
    /// mounts and hostname), whatever its exit status.
    pub fn root_output(&self, script: &str) -> Result<CmdOutput, HarnessError> {
        let init = self.init_pid()?.to_string();
        cmd::output(
            Command::new("nsenter")
                .args([
                    "-t", &init, "-m", "-u", "-n", "-p", "--", "/bin/sh", "-c", script,
                ])
                .env_clear()
                .env("PATH", STD_PATH)
                .env("HOME", "/root")
                .env("LANG", "C.UTF-8")
                .stdin(Stdio::null()),
        )
    }

    /// Like [`Host::root_output`], failing unless the script exits with 0.
    pub fn root(&self, script: &str) -> Result<CmdOutput, HarnessError> {
        let output = self.root_output(script)?;
        if output.success() {
            return Ok(output);
        }
        Err(HarnessError::Command {
            command: format!("on {}: {script}", self.name),
            status: format!("{:?}", output.code),
            stderr: format!("{}{}", output.stdout, output.stderr)
                .trim()
                .to_owned(),
        })
    }

    /// Takes the host off the network: connections to it and from it stall
    /// (a connect times out), as when a machine loses its link.
    pub fn link_down(&self) -> Result<(), HarnessError> {
        net::link_down(&self.slot)
    }

    /// Puts the host back on the network.
    pub fn link_up(&self) -> Result<(), HarnessError> {
        net::link_up(&self.slot, self.outer_netns())
    }

    /// SIGKILLs the listening sshd (open sessions keep running, as they do
    /// when a real sshd dies); new connections are refused.
    pub fn kill_sshd(&self) -> Result<(), HarnessError> {
        if let Some(sshd) = self.procs().sshd.take() {
            kill_tree(sshd);
        }
        self.wait_not_listening(22, Duration::from_secs(10))
    }

    /// Starts sshd again (after [`Host::kill_sshd`]); returns once it listens.
    pub fn start_sshd(&self) -> Result<(), HarnessError> {
        self.kill_sshd()?;
        let init = self.init_pid()?;
        let sshd = sshd::start(&self.name, init, self.addr(), &self.sshd_log())?;
        self.procs().sshd = Some(sshd);
        Ok(())
    }

    /// A reboot: every process on the host is killed, `/tmp` and `/run` are
    /// emptied, the rest of its files stay, and sshd comes back with the
    /// same host key.
    pub fn reboot(&self) -> Result<(), HarnessError> {
        self.kill_everything()?;
        state::clear_volatile(&self.slot.state_dir())?;
        self.boot()
    }

    /// Replaces the host key with a new one and restarts sshd (clients that
    /// pinned the old key must now refuse the host). Returns the new key.
    pub fn rotate_host_key(&self) -> Result<KeyPair, HarnessError> {
        let ssh_dir = self.slot.state_dir().join("ssh");
        let key = KeyPair::generate(&ssh_dir, sshd::HOST_KEY, KeyKind::Ed25519, None)?;
        *self.host_key.lock().unwrap_or_else(|e| e.into_inner()) = key.clone();
        self.start_sshd()?;
        Ok(key)
    }

    /// How many TCP connections to its sshd are established right now.
    pub fn ssh_connections(&self) -> Result<usize, HarnessError> {
        let listed = cmd::run(
            Command::new("ss")
                .args(["-N", &self.netns(), "-Htn"])
                .args(["state", "established", "( sport = :22 )"]),
        )?;
        Ok(listed
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count())
    }

    /// Waits until something on the host listens on TCP `port`.
    pub fn wait_listening(&self, port: u16, patience: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + patience;
        loop {
            if self.listening(port)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout {
                    host: self.name.clone(),
                    what: format!("nothing listened on port {port} within {patience:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn listening(&self, port: u16) -> Result<bool, HarnessError> {
        let filter = format!("( sport = :{port} )");
        let listed = cmd::run(Command::new("ss").args(["-N", &self.netns(), "-Hltn", &filter]))?;
        Ok(!listed.stdout.trim().is_empty())
    }

    fn wait_not_listening(&self, port: u16, patience: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + patience;
        while self.listening(port)? {
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout {
                    host: self.name.clone(),
                    what: format!(
                        "port {port} still listens {patience:?} after its process was killed"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The pids of every process on the host.
    pub fn pids(&self) -> Result<Vec<u32>, HarnessError> {
        slot::netns_pids(&self.netns())
    }

    fn kill_everything(&self) -> Result<(), HarnessError> {
        slot::kill_netns_processes(&self.netns(), Duration::from_secs(10))?;
        let mut procs = self.procs();
        procs.init = None;
        for child in [procs.holder.take(), procs.sshd.take()]
            .into_iter()
            .flatten()
        {
            kill_tree(child);
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let killed = self.kill_everything();
        // The sweep is the one teardown path, shared with crashed owners.
        let swept = slot::sweep(self.slot.index());
        if let Err(problem) = killed.and(swept.map(drop)) {
            eprintln!(
                "dstack-testhosts: cleaning up host {}: {problem}",
                self.name
            );
        }
    }
}
