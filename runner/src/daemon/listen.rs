//! Where a host-process job really listens. The runner cannot choose the
//! address a host process binds (`python -m http.server 8000` takes every
//! address, another server only loopback), so it looks: the TCP sockets in
//! LISTEN state of this host (`/proc/net/tcp` and `/proc/net/tcp6`) on the
//! job's ports, polled while the job runs until each port has one, and
//! recorded in the job's ports as `listen` (`0.0.0.0:8000`, `[::]:8000`,
//! `127.0.0.1:8000`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::Job;

/// Time between two looks.
const POLL: Duration = Duration::from_millis(200);

/// State word of a listening socket in `/proc/net/tcp*`.
const LISTEN: &str = "0A";

/// The address of one `/proc/net/tcp*` field (`0100007F:1F40`).
fn parse_address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, word) in bytes.chunks_mut(4).enumerate() {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                word.copy_from_slice(&w.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Listening addresses in the text of one `/proc/net/tcp*` file.
pub fn listening_in(table: &str) -> Vec<SocketAddr> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next()?;
            let state = fields.nth(1)?;
            (state == LISTEN).then(|| parse_address(local)).flatten()
        })
        .collect()
}

/// Every TCP address this host listens on now.
pub fn listening() -> Vec<SocketAddr> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| listening_in(&t))
        .collect()
}

/// The address listening on `port`, preferring the widest (every address
/// over one address).
pub fn bound(all: &[SocketAddr], port: u16) -> Option<SocketAddr> {
    let mut on_port: Vec<&SocketAddr> = all.iter().filter(|a| a.port() == port).collect();
    on_port.sort_by_key(|a| !a.ip().is_unspecified());
    on_port.first().map(|a| **a)
}

/// Records in the job's ports where each is listened on, looking until all
/// are found or the job ends. Spawned for host-process jobs with ports.
pub fn watch(job: Arc<Job>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let info = job.info();
            if info.status.is_finished() || info.ports.iter().all(|p| p.listen.is_some()) {
                return;
            }
            let all = tokio::task::spawn_blocking(listening)
                .await
                .unwrap_or_default();
            let found = info
                .ports
                .iter()
                .any(|p| p.listen.is_none() && bound(&all, p.host).is_some());
            if found {
                let _ = job.update(|i| {
                    for p in &mut i.ports {
                        if p.listen.is_none() {
                            p.listen = bound(&all, p.host).map(|a| a.to_string());
                        }
                    }
                });
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tables_give_listening_addresses() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n   2: 0100007F:D2C8 0100007F:1F40 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n";
        let found = listening_in(v4);
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["0.0.0.0:8000", "127.0.0.1:80"]);
        let v6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A\n   1: 00000000000000000000000001000000:0051 00000000000000000000000000000000:0000 0A\n";
        let text: Vec<String> = listening_in(v6).iter().map(ToString::to_string).collect();
        assert_eq!(text, ["[::]:8000", "[::1]:81"]);
        let both: Vec<SocketAddr> = found.into_iter().chain(listening_in(v6)).collect();
        assert_eq!(bound(&both, 80).unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(bound(&both, 8000).unwrap().to_string(), "0.0.0.0:8000");
        assert_eq!(bound(&both, 9), None);
    }
}
