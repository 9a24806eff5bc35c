//! Each host's own file system view: which directories are private, where
//! their contents live on the machine, and the shell script that builds the
//! host's mount namespace.
//!
//! The private directories are bind mounts of per-slot directories under
//! the slot's state directory, so what a runner installs survives a host
//! "reboot" (like a disk) while `/tmp` and `/run` are emptied by it. sshd's
//! config, host key and authorized keys live in the slot's `ssh/` directory,
//! mounted at [`SSH_DIR`] inside the host; the state base itself ends up
//! hidden under the host's private `/var/tmp`, so no host sees another's
//! files.

use std::path::{Path, PathBuf};

/// Directories every host has privately, with the name of their backing
/// directory in the slot. `/var/tmp` must stay last: it hides the state base
/// that every other bind mount reads from.
pub const PRIVATE_DIRS: &[(&str, &str)] = &[
    ("/root", "root"),
    ("/home", "home"),
    ("/opt", "opt"),
    ("/srv", "srv"),
    ("/usr/local", "usr-local"),
    ("/var/lib", "var-lib"),
    ("/etc/systemd", "etc-systemd"),
    ("/tmp", "tmp"),
    ("/run", "run"),
    ("/var/tmp", "var-tmp"),
];

/// The private directories a host "reboot" empties.
pub(crate) const VOLATILE_DIRS: &[&str] = &["tmp", "run"];

/// Where sshd's files appear inside a host.
pub const SSH_DIR: &str = "/run/dstack-testhost";

/// The machine's Docker engine socket.
pub(crate) const DOCKER_SOCKET: &str = "/run/docker.sock";

/// The backing directory of host path `path` in slot directory `slot_dir`,
/// if `path` lies in a private directory.
pub(crate) fn backing_path(slot_dir: &Path, path: &str) -> Option<PathBuf> {
    let (dir, backing) = PRIVATE_DIRS.iter().find(|(dir, _)| {
        path.strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })?;
    let rest = path[dir.len()..].trim_start_matches('/');
    let base = slot_dir.join("fs").join(backing);
    Some(if rest.is_empty() {
        base
    } else {
        base.join(rest)
    })
}

/// How the machine's Docker client is handled on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DockerClient {
    /// The client lives in a private directory (e.g. `/usr/local/bin`):
    /// bind it in for hosts with Docker.
    BindIn(String),
    /// The client lives in a shared directory (e.g. `/usr/bin`): hosts
    /// without Docker get that directory as an overlay whose upper layer
    /// deletes the client (a whiteout), so it does not exist there.
    Hide(String),
}

/// The inputs of [`setup_script`].
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    pub slot_dir: &'a Path,
    pub hostname: &'a str,
    pub docker: bool,
    pub docker_clients: &'a [DockerClient],
}

/// The script run by `unshare --mount --uts --pid --fork` as the host's
/// first process (pid 1 of its pid namespace): it mounts the host's view,
/// prints `ready`, then stays as the host's init, reaping orphans the way an
/// init does (commands later enter its namespaces with `nsenter`).
pub(crate) fn setup_script(layout: &Layout<'_>) -> String {
    let slot = quote(&layout.slot_dir.display().to_string());
    let mut lines = vec!["set -eu".to_owned(), format!("S={slot}")];
    lines.extend(capture_docker(layout));
    for (dir, backing) in PRIVATE_DIRS {
        if *dir == "/var/tmp" {
            continue;
        }
        lines.push(format!("mount --bind \"$S/fs/{backing}\" {dir}"));
    }
    lines.push(format!(
        "mkdir -p /run/sshd {SSH_DIR} && chmod 0755 /run/sshd"
    ));
    lines.push(format!("mount --bind \"$S/ssh\" {SSH_DIR}"));
    lines.extend(place_docker(layout));
    lines.push("mount --bind \"$S/fs/var-tmp\" /var/tmp".to_owned());
    lines.push(format!("hostname {}", quote(layout.hostname)));
    lines.push("echo ready".to_owned());
    lines.push("exec </dev/null >/dev/null 2>&1".to_owned());
    // `wait` reaps every child of pid 1, adopted orphans included.
    lines.push("while :; do sleep 5 & wait; done".to_owned());
    lines.join("\n") + "\n"
}

/// Bind mounts of the socket and a private-dir client, taken before their
/// directories are covered.
fn capture_docker(layout: &Layout<'_>) -> Vec<String> {
    if !layout.docker {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "mount --bind {DOCKER_SOCKET} \"$S/mnt/docker.sock\""
    )];
    for client in layout.docker_clients {
        if let DockerClient::BindIn(path) = client {
            lines.push(format!(
                "mount --bind {} \"$S/mnt/docker-cli\"",
                quote(path)
            ));
        }
    }
    lines
}

/// Puts the captured socket and client in place, or hides a shared client.
fn place_docker(layout: &Layout<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    if layout.docker {
        lines.push(format!(": > {DOCKER_SOCKET}"));
        lines.push(format!(
            "mount --bind \"$S/mnt/docker.sock\" {DOCKER_SOCKET}"
        ));
    }
    for client in layout.docker_clients {
        match client {
            DockerClient::BindIn(path) if layout.docker => {
                let path = quote(path);
                lines.push(format!("mkdir -p \"$(dirname {path})\" && : > {path}"));
                lines.push(format!("mount --bind \"$S/mnt/docker-cli\" {path}"));
            }
            DockerClient::Hide(path) if !layout.docker => lines.push(hide(path)),
            _ => {}
        }
    }
    lines
}

/// The overlay that removes `path` from its directory; where overlays are
/// not available, an empty non-executable file covers it instead (shells
/// still list it, but nothing can run it).
fn hide(path: &str) -> String {
    let (dir, _) = path.rsplit_once('/').unwrap_or(("", path));
    let layer = format!("\"$S/ovl/{}\"", overlay_name(dir));
    let dir = quote(dir);
    format!(
        "mount -t overlay overlay -o lowerdir={dir},upperdir={layer}/upper,workdir={layer}/work {dir} 2>/dev/null || mount --bind \"$S/mnt/hidden\" {}",
        quote(path)
    )
}

/// The slot subdirectory holding the overlay layers of directory `dir`.
pub(crate) fn overlay_name(dir: &str) -> String {
    dir.trim_matches('/').replace('/', "-")
}

pub(crate) fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("'{}'", word.replace('\'', "'\\''")))
}

/// Classifies the machine's `docker` clients found in the standard `PATH`.
pub(crate) fn docker_clients() -> Vec<DockerClient> {
    const PATH_DIRS: &[&str] = &[
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    let mut seen = Vec::new();
    let mut clients = Vec::new();
    for dir in PATH_DIRS {
        let path = format!("{dir}/docker");
        let Ok(real) = std::fs::canonicalize(&path) else {
            continue;
        };
        // `/bin` is often a symlink to `/usr/bin`: one client, one entry.
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if backing_path(Path::new("/"), &path).is_some() {
            clients.push(DockerClient::BindIn(path));
        } else {
            clients.push(DockerClient::Hide(path));
        }
    }
    clients
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_backing(path: &str, expect: Option<&str>) {
        let got = backing_path(Path::new("/s"), path).map(|p| p.display().to_string());
        assert_eq!(got.as_deref(), expect, "backing of {path}");
    }

    #[test]
    fn private_paths_map_into_the_slot_and_others_do_not() {
        check_backing(
            "/usr/local/bin/nvidia-smi",
            Some("/s/fs/usr-local/bin/nvidia-smi"),
        );
        check_backing("/root", Some("/s/fs/root"));
        check_backing("/var/lib/dstack/x", Some("/s/fs/var-lib/dstack/x"));
        check_backing("/rootfs/x", None);
        check_backing("/usr/bin/docker", None);
        check_backing("/etc/passwd", None);
    }

    #[test]
    fn var_tmp_is_mounted_last_because_it_hides_the_state_base() {
        let script = setup_script(&Layout {
            slot_dir: Path::new("/var/tmp/dstack-testhosts/slot-3"),
            hostname: "gpu-1",
            docker: true,
            docker_clients: &[DockerClient::BindIn("/usr/local/bin/docker".into())],
        });
        let mounts: Vec<&str> = script.lines().filter(|l| l.starts_with("mount")).collect();
        assert_eq!(
            mounts.last(),
            Some(&"mount --bind \"$S/fs/var-tmp\" /var/tmp")
        );
        let socket_capture = script.find("mount --bind /run/docker.sock").unwrap();
        let run_cover = script.find("\" /run\n").unwrap();
        assert!(
            socket_capture < run_cover,
            "socket captured before /run is covered:\n{script}"
        );
        assert!(script.contains("echo ready\n"));
    }

    #[test]
    fn hosts_without_docker_hide_a_shared_client_and_get_no_socket() {
        let script = setup_script(&Layout {
            slot_dir: Path::new("/s"),
            hostname: "plain",
            docker: false,
            docker_clients: &[DockerClient::Hide("/usr/bin/docker".into())],
        });
        assert!(!script.contains("docker.sock"), "{script}");
        assert!(
            script.contains(
                "mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=\"$S/ovl/usr-bin\"/upper"
            ),
            "{script}"
        );
    }
}
