//! The host's sshd: its config, starting it inside the host's namespaces,
//! and waiting until it listens.

use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::fs::SSH_DIR;

/// The file name of every host's host key in its ssh directory.
pub(crate) const HOST_KEY: &str = "ssh_host_ed25519_key";

/// The `sshd_config` of a host listening on `addr:22`: keys only, root with
/// keys only, TCP forwarding on (tunnels and jumps need it), verbose logs.
pub(crate) fn config(addr: Ipv4Addr) -> String {
    format!(
        "Port 22
ListenAddress {addr}
AddressFamily inet
HostKey {SSH_DIR}/{HOST_KEY}
PidFile none
AuthorizedKeysFile {SSH_DIR}/authorized_keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel VERBOSE
Subsystem sftp internal-sftp
"
    )
}

/// Starts sshd in the namespaces of the host's init (through `nsenter`,
/// whose child it is), logging to `log`, and returns once it listens on
/// `addr`.
pub(crate) fn start(
    host: &str,
    init: u32,
    addr: Ipv4Addr,
    log: &Path,
) -> Result<Child, HarnessError> {
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| HarnessError::io(log, e))?;
    let offset = log_file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new("nsenter");
    command
        .args(["-t", &init.to_string(), "-m", "-u", "-n", "-p", "--"])
        .args(["/usr/sbin/sshd", "-D", "-e", "-f"])
        .arg(format!("{SSH_DIR}/sshd_config"))
        .env_clear()
        .env("PATH", crate::host::STD_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
        command: "nsenter ... sshd".to_owned(),
        source,
    })?;
    match wait_listening(&mut child, addr, log, offset) {
        Ok(()) => Ok(child),
        Err(what) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(HarnessError::HostStart {
                host: host.to_owned(),
                what,
                log: log_tail(log),
            })
        }
    }
}

fn wait_listening(
    child: &mut Child,
    addr: Ipv4Addr,
    log: &Path,
    offset: u64,
) -> Result<(), String> {
    let wanted = format!("Server listening on {addr} port 22");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let fresh = String::from_utf8_lossy(text.get(offset as usize..).unwrap_or_default());
        if fresh.contains(&wanted) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sshd exited ({status}) before listening"));
        }
        if Instant::now() > deadline {
            return Err("sshd did not listen within 15 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last lines of a log, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
