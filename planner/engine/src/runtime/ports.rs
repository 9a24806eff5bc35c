//! What people are told about a job's ports: a URL that works from this
//! host and, when the socket is bound wider than that URL says (a host
//! process listening on `0.0.0.0`), the bind itself, so the line says what
//! is true: `http://127.0.0.1:8000 (listening on 0.0.0.0:8000)`. Ports come
//! as the runner records them ([`PortBinding`], kept in state as JSON).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use dstack_runner::api::PortBinding;

/// The line for one port of the job at `address`.
pub fn port_line(address: &str, port: &PortBinding) -> String {
    let bind = port
        .listen
        .as_deref()
        .and_then(|l| l.parse::<SocketAddr>().ok());
    match bind {
        Some(bind) => {
            let url = url_for(bind);
            if bind.ip().is_unspecified() {
                format!(
                    "Port {} of {address} is at {url} (listening on {bind})",
                    port.container
                )
            } else {
                format!("Port {} of {address} is at {url}", port.container)
            }
        }
        None => {
            let host = port
                .host_ip
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            format!(
                "Port {} of {address} will be at {} (nothing listens on it yet)",
                port.container,
                url_for(SocketAddr::new(host, port.host))
            )
        }
    }
}

/// A URL reaching `bind` from this host: loopback for every-address binds.
fn url_for(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bind.port()))
}

/// The lines to print for a job's recorded ports (JSON), or `None` while
/// some port is not listened on yet and `patient` (keep waiting).
pub fn announcement(
    address: &str,
    ports: &[serde_json::Value],
    patient: bool,
) -> Option<Vec<String>> {
    let ports: Vec<PortBinding> = ports
        .iter()
        .filter_map(|p| serde_json::from_value(p.clone()).ok())
        .collect();
    if patient && ports.iter().any(|p| p.listen.is_none()) {
        return None;
    }
    Some(ports.iter().map(|p| port_line(address, p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(listen: Option<&str>) -> PortBinding {
        PortBinding {
            container: 8000,
            host_ip: "127.0.0.1".into(),
            host: 8000,
            listen: listen.map(str::to_string),
        }
    }

    #[test]
    fn lines_say_where_the_port_is_and_how_it_is_bound() {
        let lines: Vec<String> = [
            Some("0.0.0.0:8000"),
            Some("[::]:8000"),
            Some("127.0.0.1:8000"),
            Some("10.1.2.3:8000"),
            Some("[::1]:8000"),
            None,
        ]
        .into_iter()
        .map(|l| port_line("run/web/job/0", &port(l)))
        .collect();
        insta::assert_snapshot!(lines.join("\n"), @r"
        Port 8000 of run/web/job/0 is at http://127.0.0.1:8000 (listening on 0.0.0.0:8000)
        Port 8000 of run/web/job/0 is at http://127.0.0.1:8000 (listening on [::]:8000)
        Port 8000 of run/web/job/0 is at http://127.0.0.1:8000
        Port 8000 of run/web/job/0 is at http://10.1.2.3:8000
        Port 8000 of run/web/job/0 is at http://[::1]:8000
        Port 8000 of run/web/job/0 will be at http://127.0.0.1:8000 (nothing listens on it yet)
        ");
    }

    #[test]
    fn announcing_waits_for_every_bind_while_patient() {
        let ports = [
            serde_json::to_value(port(Some("0.0.0.0:8000"))).unwrap(),
            serde_json::to_value(port(None)).unwrap(),
        ];
        assert_eq!(announcement("run/w/job/0", &ports, true), None);
        assert_eq!(announcement("run/w/job/0", &ports, false).unwrap().len(), 2);
        assert_eq!(
            announcement("run/w/job/0", &ports[..1], true)
                .unwrap()
                .len(),
            1
        );
    }
}
