//! Slots: the unit of allocation that keeps parallel test processes apart.
//!
//! Slot `N` (1..=250) owns the network namespace `dth-N`, the veth pair
//! `dthNo`/`dthNi`, the subnet `10.231.N.0/24` (outside `.1`, host `.2`) and
//! the state directory `/var/tmp/dstack-testhosts/slot-N`. A process owns a
//! slot while it holds an exclusive `flock` on `/run/dstack-testhosts/slot-N.lock`;
//! the kernel drops that lock when the process dies, however it dies, so a
//! slot whose lock can be taken but whose namespace, veth or directory still
//! exists is a crashed process's leftover, and is swept before reuse (and by
//! [`sweep_stale`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd;
use crate::error::HarnessError;

/// Where the slot locks live (a tmpfs on most machines: gone with a reboot,
/// like the namespaces they guard).
pub const LOCK_DIR: &str = "/run/dstack-testhosts";
/// Where each slot keeps its sshd config, keys and the host's private files.
pub const STATE_BASE: &str = "/var/tmp/dstack-testhosts";
/// How many slots there are (the third octet of the subnet).
pub const SLOTS: u32 = 250;
/// The /16 every slot's subnet is carved from; the root namespace routes it
/// as unreachable so no packet for a test host ever leaves the machine.
pub const SUPERNET: &str = "10.231.0.0/16";

/// One acquired slot; dropping it releases the lock (not the resources:
/// the host that uses it tears those down first).
#[derive(Debug)]
pub(crate) struct Slot {
    index: u32,
    _lock: File,
}

impl Slot {
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
    pub(crate) fn netns(&self) -> String {
        netns_name(self.index)
    }
    pub(crate) fn outer_if(&self) -> String {
        format!("dth{}o", self.index)
    }
    pub(crate) fn inner_if(&self) -> String {
        format!("dth{}i", self.index)
    }
    pub(crate) fn outer_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.index as u8, 1)
    }
    pub(crate) fn host_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.index as u8, 2)
    }
    pub(crate) fn state_dir(&self) -> PathBuf {
        state_dir(self.index)
    }
}

fn netns_name(index: u32) -> String {
    format!("dth-{index}")
}

fn state_dir(index: u32) -> PathBuf {
    Path::new(STATE_BASE).join(format!("slot-{index}"))
}

fn lock_path(index: u32) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("slot-{index}.lock"))
}

/// Takes the next free slot, sweeping what a crashed owner left in it.
/// The search starts at an offset derived from the pid so that parallel
/// processes rarely contend for the same lock.
pub(crate) fn acquire() -> Result<Slot, HarnessError> {
    std::fs::create_dir_all(LOCK_DIR).map_err(|e| HarnessError::io(LOCK_DIR, e))?;
    let start = std::process::id() % SLOTS;
    for offset in 0..SLOTS {
        let index = 1 + (start + offset) % SLOTS;
        if let Some(lock) = try_lock(index)? {
            sweep(index)?;
            return Ok(Slot { index, _lock: lock });
        }
    }
    Err(HarnessError::NoFreeSlot {
        slots: SLOTS,
        lock_dir: LOCK_DIR.into(),
    })
}

/// Sweeps every slot no live process holds but whose resources still exist;
/// returns the indexes it cleaned.
pub fn sweep_stale() -> Result<Vec<u32>, HarnessError> {
    std::fs::create_dir_all(LOCK_DIR).map_err(|e| HarnessError::io(LOCK_DIR, e))?;
    let mut swept = Vec::new();
    for index in 1..=SLOTS {
        if !has_leftovers(index) {
            continue;
        }
        if let Some(_lock) = try_lock(index)?
            && sweep(index)?
        {
            swept.push(index);
        }
    }
    Ok(swept)
}

/// The pid recorded in a slot's lock file (the last process that took it).
pub fn slot_owner(index: u32) -> Option<u32> {
    std::fs::read_to_string(lock_path(index))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn try_lock(index: u32) -> Result<Option<File>, HarnessError> {
    let path = lock_path(index);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| HarnessError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(HarnessError::io(&path, e)),
    }
    file.set_len(0).map_err(|e| HarnessError::io(&path, e))?;
    writeln!(file, "{}", std::process::id()).map_err(|e| HarnessError::io(&path, e))?;
    Ok(Some(file))
}

fn has_leftovers(index: u32) -> bool {
    netns_exists(&netns_name(index))
        || Path::new("/sys/class/net")
            .join(format!("dth{index}o"))
            .exists()
        || state_dir(index).exists()
}

pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Removes everything slot `index` may have: the processes in its network
/// namespace, the namespace (which takes the veth pair with it), a veth end
/// left in the root namespace, and the state directory. Idempotent; the
/// caller holds the slot's lock.
pub(crate) fn sweep(index: u32) -> Result<bool, HarnessError> {
    let had_leftovers = has_leftovers(index);
    let netns = netns_name(index);
    if netns_exists(&netns) {
        kill_netns_processes(&netns, Duration::from_secs(10))?;
        cmd::ip(&["netns", "del", &netns])?;
    }
    let outer = format!("dth{index}o");
    if Path::new("/sys/class/net").join(&outer).exists() {
        // Deleting the namespace above may still be taking the pair down.
        let deleted = cmd::ip(&["link", "del", &outer]);
        if Path::new("/sys/class/net").join(&outer).exists() {
            deleted?;
        }
    }
    let dir = state_dir(index);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    }
    Ok(had_leftovers)
}

/// The pids of every process in network namespace `netns`.
pub(crate) fn netns_pids(netns: &str) -> Result<Vec<u32>, HarnessError> {
    let listed = cmd::ip(&["netns", "pids", netns])?;
    Ok(listed
        .stdout
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect())
}

/// SIGKILLs every process in `netns` until none is left (new ones may be
/// forked while the first round dies).
pub(crate) fn kill_netns_processes(netns: &str, patience: Duration) -> Result<(), HarnessError> {
    let deadline = Instant::now() + patience;
    loop {
        let pids = netns_pids(netns)?;
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Timeout {
                host: netns.to_owned(),
                what: format!("processes {pids:?} survived SIGKILL"),
            });
        }
        let mut kill = std::process::Command::new("kill");
        kill.arg("-KILL").args(pids.iter().map(u32::to_string));
        // A pid may exit between listing and killing; the next round checks.
        let _ = cmd::output(&mut kill)?;
        std::thread::sleep(Duration::from_millis(20));
    }
}
