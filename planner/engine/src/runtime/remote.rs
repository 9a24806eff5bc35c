//! Runners on other machines, reached through SSH tunnels to the loopback
//! port they listen on (no runner port is opened to the network): one
//! pooled SSH connection per host shared by every call, one local tunnel
//! and HTTP client per (host, runner port) made on first use and kept for
//! the process. A tunnel opens each new connection on the pooled session
//! as it is then, so a host that comes back after a lost link is reached
//! again without a new tunnel; while it is away calls fail as the pool's
//! bounds say (keep-alives, connect timeout).

use std::collections::HashMap;
use std::sync::Arc;

use dstack_runner::client::RunnerClient;
use dstack_ssh::{Pool, PoolOptions, SshError, Target, Tunnel};
use tokio::sync::Mutex;

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

    /// How many times the connection to `target` was (re)established.
    pub fn connects(&self, target: &Target) -> u64 {
        self.pool.client(target.clone()).connects()
    }
}
