//! The slot directory of a host on the machine: backing directories of its
//! private file system, sshd's files, mount points, and the files its spec
//! places.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use crate::cmd;
use crate::error::HarnessError;
use crate::fs::{DockerClient, PRIVATE_DIRS, VOLATILE_DIRS, backing_path, overlay_name};
use crate::keys::{KeyKind, KeyPair};
use crate::spec::{HostSpec, TestUser};
use crate::sshd;

fn mkdir(path: &Path, mode: u32) -> Result<(), HarnessError> {
    std::fs::create_dir_all(path).map_err(|e| HarnessError::io(path, e))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), HarnessError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| HarnessError::io(path, e))
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), HarnessError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| HarnessError::io(parent, e))?;
    }
    std::fs::write(path, contents).map_err(|e| HarnessError::io(path, e))?;
    set_mode(path, mode)
}

/// A machine user's uid and gid, from `/etc/passwd`.
pub(crate) fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

/// Lays out the slot directory for `spec` and returns the host key.
pub(crate) fn prepare(
    slot_dir: &Path,
    spec: &HostSpec,
    addr: std::net::Ipv4Addr,
    user_keys: &[&KeyPair],
    docker_clients: &[DockerClient],
) -> Result<KeyPair, HarnessError> {
    mkdir(slot_dir, 0o700)?;
    make_backing_dirs(slot_dir)?;
    make_homes(slot_dir, &spec.users)?;
    let ssh_dir = slot_dir.join("ssh");
    mkdir(&ssh_dir, 0o755)?;
    write(
        &ssh_dir.join("sshd_config"),
        sshd::config(addr).as_bytes(),
        0o644,
    )?;
    let host_key = KeyPair::generate(&ssh_dir, sshd::HOST_KEY, KeyKind::Ed25519, None)?;
    write_authorized_keys(&ssh_dir, &spec.users, user_keys)?;
    let mnt = slot_dir.join("mnt");
    mkdir(&mnt, 0o755)?;
    for mount_point in ["docker.sock", "docker-cli"] {
        write(&mnt.join(mount_point), b"", 0o644)?;
    }
    // Covers a shared `docker` client on hosts without Docker: not
    // executable, so neither `command -v` nor a shell finds it.
    write(&mnt.join("hidden"), b"", 0o000)?;
    place_files(slot_dir, spec)?;
    if !spec.docker {
        make_whiteouts(slot_dir, docker_clients)?;
    }
    Ok(host_key)
}

/// Overlay layers whose upper directory holds a whiteout (a 0:0 character
/// device) for each shared Docker client, which deletes it from the view.
fn make_whiteouts(slot_dir: &Path, docker_clients: &[DockerClient]) -> Result<(), HarnessError> {
    for client in docker_clients {
        let DockerClient::Hide(path) = client else {
            continue;
        };
        let Some((dir, file)) = path.rsplit_once('/') else {
            continue;
        };
        let layer = slot_dir.join("ovl").join(overlay_name(dir));
        mkdir(&layer.join("work"), 0o755)?;
        mkdir(&layer.join("upper"), 0o755)?;
        let whiteout = layer.join("upper").join(file);
        if !whiteout.exists() {
            cmd::run(
                std::process::Command::new("mknod")
                    .arg(&whiteout)
                    .args(["c", "0", "0"]),
            )?;
        }
    }
    Ok(())
}

fn make_backing_dirs(slot_dir: &Path) -> Result<(), HarnessError> {
    for (dir, backing) in PRIVATE_DIRS {
        let mode = match *dir {
            "/root" => 0o700,
            "/tmp" | "/var/tmp" => 0o1777,
            _ => 0o755,
        };
        mkdir(&slot_dir.join("fs").join(backing), mode)?;
    }
    for sub in ["bin", "sbin", "lib", "share", "etc", "include", "src"] {
        mkdir(&slot_dir.join("fs/usr-local").join(sub), 0o755)?;
    }
    mkdir(&slot_dir.join("fs/etc-systemd/system"), 0o755)
}

fn make_homes(slot_dir: &Path, users: &[TestUser]) -> Result<(), HarnessError> {
    for user in users {
        let home = slot_dir.join("fs/home").join(user.name());
        mkdir(&home, 0o750)?;
        let (uid, gid) = user_ids(user.name()).ok_or_else(|| HarnessError::Unsupported {
            missing: format!("the test user {}", user.name()),
        })?;
        chown(&home, Some(uid), Some(gid)).map_err(|e| HarnessError::io(&home, e))?;
    }
    Ok(())
}

/// Root and every listed user accept the set's user keys; other users have
/// no authorized keys at all.
fn write_authorized_keys(
    ssh_dir: &Path,
    users: &[TestUser],
    user_keys: &[&KeyPair],
) -> Result<(), HarnessError> {
    let lines: String = user_keys
        .iter()
        .map(|key| format!("{}\n", key.public))
        .collect();
    let dir = ssh_dir.join("authorized_keys");
    mkdir(&dir, 0o755)?;
    for name in std::iter::once("root").chain(users.iter().map(|user| user.name())) {
        write(&dir.join(name), lines.as_bytes(), 0o644)?;
    }
    Ok(())
}

fn place_files(slot_dir: &Path, spec: &HostSpec) -> Result<(), HarnessError> {
    for file in &spec.files {
        let target = backing_path(slot_dir, &file.path).ok_or_else(|| {
            HarnessError::Spec(format!(
                "host {}: file {} is outside the private directories ({}); it would land on the machine",
                spec.name,
                file.path,
                PRIVATE_DIRS.iter().map(|(dir, _)| *dir).collect::<Vec<_>>().join(" ")
            ))
        })?;
        write(&target, &file.contents, file.mode)?;
    }
    Ok(())
}

/// Empties what a reboot empties (`/tmp`, `/run`).
pub(crate) fn clear_volatile(slot_dir: &Path) -> Result<(), HarnessError> {
    for backing in VOLATILE_DIRS {
        let dir: PathBuf = slot_dir.join("fs").join(backing);
        let entries = std::fs::read_dir(&dir).map_err(|e| HarnessError::io(&dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| HarnessError::io(&dir, e))?.path();
            let removed = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| HarnessError::io(&path, e))?;
        }
    }
    Ok(())
}
