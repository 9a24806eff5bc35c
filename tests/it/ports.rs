//! What `apply` says about a host-process service's port: a URL that works
//! from this host and, since the process bound every address, that bind
//! (`http://127.0.0.1:PORT (listening on 0.0.0.0:PORT)`). Golden text.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::jobs::{JobProject, text};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().expect("addr").port()
}

fn http_get(port: u16) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Applies a host-process service bound to `bind:PORT`; the `Port` line of
/// `apply` (port number as `PORT`) and the page served at its URL.
fn port_line_of_service(name: &str, bind: &str) -> (String, String) {
    let p = JobProject::new(name);
    let port = free_port();
    p.write(
        "web.dstack.yml",
        &format!(
            "type: service\nname: web\nport: {port}\ncommands:\n  - mkdir -p www && echo served > www/index.html\n  - exec busybox httpd -f -p {bind}:{port} -h www\n"
        ),
    );
    let mut apply = p
        .command(&["apply", "-y"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dstack runs");
    let stderr = BufReader::new(apply.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    let line = stderr
        .lines()
        .map_while(Result::ok)
        .inspect(|l| seen.push(l.clone()))
        .find(|l| l.starts_with("Port "));
    let body = http_get(port);
    let stop = p.dstack(&["stop", "web", "--abort", "-y"]);
    let _ = apply.wait();
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let line = line.unwrap_or_else(|| panic!("no Port line in:\n{}", seen.join("\n")));
    (line.replace(&port.to_string(), "PORT"), body)
}

#[test]
fn a_host_service_bound_to_every_address_says_so() {
    let (line, body) = port_line_of_service("port-any", "0.0.0.0");
    insta::assert_snapshot!(line, @"Port PORT of run/web/job/0 is at http://127.0.0.1:PORT (listening on 0.0.0.0:PORT)");
    assert!(body.contains("served"), "{body}");
}

#[test]
fn a_host_service_bound_to_loopback_is_at_loopback() {
    let (line, body) = port_line_of_service("port-lo", "127.0.0.1");
    insta::assert_snapshot!(line, @"Port PORT of run/web/job/0 is at http://127.0.0.1:PORT");
    assert!(body.contains("served"), "{body}");
}
