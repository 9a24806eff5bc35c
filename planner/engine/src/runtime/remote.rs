//! Runners on other machines, reached through SSH tunnels to the loopback
//! port they listen on (no runner port is opened to the network): one
//! pooled SSH connection per host shared by every call, one local tunnel
//! and HTTP client per (host, runner port) made on first use and kept for
//! the process. A tunnel opens each new connection on the pooled session
//! as it is then, so a host that comes back after a lost link is reached
//! again without a new tunnel; while it is away calls fail as the pool's
//! bounds say (keep-alives, connect timeout). Also: the one reading of an
//! instance's recorded [`SshAccess`] as a transport [`Target`], host keys
//! pinned.

use std::collections::HashMap;
use std::sync::Arc;

use dstack_runner::client::RunnerClient;
use dstack_schemas::recorded::{SshAccess, SshHop};
use dstack_ssh::{Endpoint, HostKey, Pool, PoolOptions, SshError, Target, Tunnel};
use tokio::sync::Mutex;

/// The transport target of recorded SSH access: the host through its jump
/// hosts, each hop pinned to its recorded host key (a host presenting
/// another key is refused with "host key changed"; a hop recorded without
/// one is pinned on this process's first connect). Fails on a recorded key
/// that is not an OpenSSH public key.
pub fn ssh_target(access: &SshAccess) -> Result<Target, String> {
    let mut target = Target::new(endpoint(&access.host)?);
    for jump in &access.jumps {
        target = target.via(endpoint(jump)?);
    }
    Ok(target)
}

fn endpoint(hop: &SshHop) -> Result<Endpoint, String> {
    let key = match &hop.host_key {
        Some(line) => Some(HostKey::parse(line).map_err(|e| {
            format!(
                "the host key recorded for {}@{}:{} is unusable: {e}",
                hop.user, hop.host, hop.port
            )
        })?),
        None => None,
    };
    Ok(
        Endpoint::new(hop.host.clone(), hop.user.clone(), &hop.identity_file)
            .port(hop.port)
            .pinned(key),
    )
}

/// A tunnel and the client that talks through it.
struct Link {
    _tunnel: Tunnel,
    token: String,
    client: RunnerClient,
}

/// Clients of remote runners; share one per process.
pub struct RemoteRunners {
    pool: Pool,
    links: Mutex<HashMap<(String, u16), Arc<Link>>>,
}

impl RemoteRunners {
    /// No connections yet; `options` bound connects and keep-alives.
    pub fn new(options: PoolOptions) -> Self {
        Self {
            pool: Pool::new(options),
            links: Mutex::new(HashMap::new()),
        }
    }

    /// A client of the runner on `target`'s loopback `port` with `token`.
    pub async fn client(
        &self,
        target: &Target,
        port: u16,
        token: &str,
    ) -> Result<RunnerClient, SshError> {
        let key = (target.label(), port);
        let mut links = self.links.lock().await;
        if let Some(link) = links.get(&key).filter(|l| l.token == token) {
            return Ok(link.client.clone());
        }
        let tunnel = self.pool.client(target.clone()).tunnel(port).await?;
        let client = RunnerClient::new(&tunnel.http_url(), token);
        links.insert(
            key,
            Arc::new(Link {
                _tunnel: tunnel,
                token: token.to_string(),
                client: client.clone(),
            }),
        );
        Ok(client)
    }

    /// Proves `target` is connected (connecting if needed), so a call
    /// through its tunnel fails with the transport's own reason (host key
    /// changed, unreachable, auth refused) rather than a dropped HTTP
    /// connection. Cheap while the pooled connection is up.
    pub async fn reach(&self, target: &Target) -> Result<(), SshError> {
        self.pool.client(target.clone()).session().await.map(drop)
    }

    /// How many times the connection to `target` was (re)established.
    pub fn connects(&self, target: &Target) -> u64 {
        self.pool.client(target.clone()).connects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGH4i5Dkd7uNztG8nCk3Q5qCqRAFA6bNrpDMwo9agYuu";

    fn hop(host: &str, host_key: Option<&str>) -> SshHop {
        SshHop {
            host: host.into(),
            port: 2222,
            user: "ubuntu".into(),
            identity_file: "/keys/id".into(),
            host_key: host_key.map(str::to_string),
        }
    }

    #[test]
    fn recorded_access_becomes_a_target_with_pinned_keys_and_jumps_in_order() {
        let access = SshAccess {
            host: hop("10.0.0.2", Some(KEY)),
            jumps: vec![hop("bastion", None), hop("inner", Some(KEY))],
            runner_port: 10999,
        };
        let target = ssh_target(&access).unwrap();
        assert_eq!(
            target.label(),
            "ubuntu@10.0.0.2:2222 (via ubuntu@bastion:2222, ubuntu@inner:2222)"
        );
        let pins: Vec<Option<String>> = target
            .hops()
            .map(|h| h.host_key.as_ref().map(HostKey::to_openssh))
            .collect();
        assert_eq!(pins, [None, Some(KEY.to_string()), Some(KEY.to_string())]);
        assert_eq!(
            target.endpoint.identity_file,
            std::path::PathBuf::from("/keys/id")
        );
    }

    #[test]
    fn an_unreadable_recorded_host_key_is_an_error_naming_the_hop() {
        let access = SshAccess {
            host: hop("10.0.0.2", Some("not a key")),
            jumps: Vec::new(),
            runner_port: 10999,
        };
        let err = ssh_target(&access).unwrap_err();
        assert!(err.contains("ubuntu@10.0.0.2:2222"), "{err}");
    }
}
