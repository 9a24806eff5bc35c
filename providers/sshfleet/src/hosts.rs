//! From a fleet's `ssh_config` to the SSH targets of its hosts: the host's
//! own `user`, `port`, `identity_file` and `proxy_jump` over the fleet's,
//! port 22 by default, `~/` in key paths expanded against the home
//! directory handed in, relative key paths taken from the configuration's
//! directory. A host that ends up without a user or a key is an error
//! naming its place (`ssh_config.hosts[N]`) and the field to add, as dstack
//! requires ("every host must resolve a user and key"). Pure: no IO.

use std::path::{Path, PathBuf};

use dstack_schemas::config::fleet::{Blocks, ProxyJump, SshConfig, SshHost};
use dstack_ssh::{Endpoint, Target};

/// One host of a fleet, ready to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetHost {
    /// Its index in `ssh_config.hosts` (the instance number).
    pub index: usize,
    /// The host and the jump host to reach it through.
    pub target: Target,
    /// Its private address, when the configuration gives one.
    pub internal_ip: Option<String>,
    /// How many shares it is split into (`None`: one).
    pub blocks: Option<Blocks>,
}

/// Where relative and `~/` key paths are resolved.
#[derive(Debug, Clone)]
pub struct PathBase<'a> {
    /// The configuration file's directory.
    pub config_dir: &'a Path,
    /// The user's home directory.
    pub home: &'a Path,
}

/// A host whose target is incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProblem {
    /// `ssh_config.hosts[N]` or `ssh_config.hosts[N].proxy_jump`.
    pub place: String,
    /// What is missing and what to write.
    pub message: String,
}

impl std::fmt::Display for HostProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Every host of `ssh`, or every problem (all of them, not the first).
pub fn fleet_hosts(
    ssh: &SshConfig,
    base: &PathBase<'_>,
) -> Result<Vec<FleetHost>, Vec<HostProblem>> {
    let (mut hosts, mut problems) = (Vec::new(), Vec::new());
    for (index, host) in ssh.hosts.iter().enumerate() {
        match fleet_host(ssh, index, host, base) {
            Ok(h) => hosts.push(h),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(hosts)
    } else {
        Err(problems)
    }
}

fn fleet_host(
    ssh: &SshConfig,
    index: usize,
    host: &SshHost,
    base: &PathBase<'_>,
) -> Result<FleetHost, Vec<HostProblem>> {
    let place = format!("ssh_config.hosts[{index}]");
    let endpoint = endpoint(
        &place,
        &host.hostname,
        host.port.or(ssh.port),
        host.user.as_ref().or(ssh.user.as_ref()),
        host.identity_file.as_ref().or(ssh.identity_file.as_ref()),
        base,
    );
    let jump = host
        .proxy_jump
        .as_ref()
        .or(ssh.proxy_jump.as_ref())
        .map(|j| jump_endpoint(&format!("{place}.proxy_jump"), j, ssh, base));
    match (endpoint, jump.transpose()) {
        (Ok(endpoint), Ok(jump)) => Ok(FleetHost {
            index,
            target: jump.into_iter().fold(Target::new(endpoint), Target::via),
            internal_ip: host.internal_ip.clone(),
            blocks: host.blocks,
        }),
        (e, j) => Err(e.err().into_iter().chain(j.err()).collect()),
    }
}

/// A jump host: its own user and key, else the fleet's.
fn jump_endpoint(
    place: &str,
    jump: &ProxyJump,
    ssh: &SshConfig,
    base: &PathBase<'_>,
) -> Result<Endpoint, HostProblem> {
    endpoint(
        place,
        &jump.hostname,
        jump.port,
        jump.user.as_ref().or(ssh.user.as_ref()),
        jump.identity_file.as_ref().or(ssh.identity_file.as_ref()),
        base,
    )
}

fn endpoint(
    place: &str,
    hostname: &str,
    port: Option<u16>,
    user: Option<&String>,
    identity_file: Option<&String>,
    base: &PathBase<'_>,
) -> Result<Endpoint, HostProblem> {
    let missing = |field: &str| HostProblem {
        place: place.to_string(),
        message: format!(
            "host `{hostname}` has no `{field}`: set it on the host or on `ssh_config`"
        ),
    };
    let user = user.ok_or_else(|| missing("user"))?;
    let key = identity_file.ok_or_else(|| missing("identity_file"))?;
    Ok(Endpoint::new(hostname, user.as_str(), key_path(key, base)).port(port.unwrap_or(22)))
}

/// `~/x` under the home directory, a relative path under the
/// configuration's directory, an absolute one as it is.
pub fn key_path(path: &str, base: &PathBase<'_>) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        return base.home.join(rest);
    }
    if path == "~" {
        return base.home.to_path_buf();
    }
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.config_dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> SshHost {
        SshHost {
            hostname: name.into(),
            port: None,
            user: None,
            identity_file: None,
            proxy_jump: None,
            internal_ip: None,
            blocks: None,
        }
    }

    fn config(hosts: Vec<SshHost>) -> SshConfig {
        SshConfig {
            user: Some("ubuntu".into()),
            port: None,
            identity_file: Some("~/.ssh/id_ed25519".into()),
            proxy_jump: None,
            hosts,
            network: None,
        }
    }

    fn base() -> PathBase<'static> {
        PathBase {
            config_dir: Path::new("/work/project"),
            home: Path::new("/home/me"),
        }
    }

    #[test]
    fn hosts_take_the_fleet_defaults_and_override_them() {
        let mut second = host("10.0.0.2");
        second.user = Some("root".into());
        second.port = Some(2222);
        second.identity_file = Some("keys/h2".into());
        let hosts = fleet_hosts(&config(vec![host("10.0.0.1"), second]), &base()).unwrap();
        let e = &hosts[0].target.endpoint;
        assert_eq!((e.user.as_str(), e.port), ("ubuntu", 22));
        assert_eq!(e.identity_file, PathBuf::from("/home/me/.ssh/id_ed25519"));
        let e = &hosts[1].target.endpoint;
        assert_eq!(e.to_string(), "root@10.0.0.2:2222");
        assert_eq!(e.identity_file, PathBuf::from("/work/project/keys/h2"));
        assert_eq!(hosts[1].index, 1);
    }

    #[test]
    fn a_jump_host_comes_first_with_its_own_user() {
        let mut ssh = config(vec![host("10.0.0.1")]);
        ssh.proxy_jump = Some(ProxyJump {
            hostname: "bastion".into(),
            port: Some(2200),
            user: Some("jump".into()),
            identity_file: Some("/keys/jump".into()),
        });
        let hosts = fleet_hosts(&ssh, &base()).unwrap();
        let hops: Vec<String> = hosts[0].target.hops().map(|e| e.to_string()).collect();
        assert_eq!(hops, ["jump@bastion:2200", "ubuntu@10.0.0.1:22"]);
    }

    #[test]
    fn every_host_without_a_user_or_key_is_named() {
        let mut ssh = config(vec![host("a"), host("b")]);
        ssh.user = None;
        ssh.identity_file = None;
        ssh.hosts[1].user = Some("root".into());
        let problems = fleet_hosts(&ssh, &base()).unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "ssh_config.hosts[0]: host `a` has no `user`: set it on the host or on `ssh_config`",
                "ssh_config.hosts[1]: host `b` has no `identity_file`: set it on the host or on `ssh_config`",
            ]
        );
    }
}
