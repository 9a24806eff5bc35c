//! `dstack-testhosts-hold N`: builds N test hosts, prints one line per host
//! (`SLOT NETNS ADDR`), the user key (`key PATH`) and then `ready`, and
//! waits to be killed. The harness's tests SIGKILL it to prove that a
//! crashed test's hosts are swept; by hand it gives hosts to poke at
//! (`ssh -i PATH -o StrictHostKeyChecking=no root@ADDR`).

use std::io::Write;

use dstack_testhosts::{HostSet, HostSpec};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let builder = (0..count).fold(HostSet::builder(), |builder, i| {
        builder.host(HostSpec::new(&format!("held-{i}")))
    });
    let hosts = match builder.build() {
        Ok(hosts) => hosts,
        Err(problem) => {
            eprintln!("dstack-testhosts-hold: {problem}");
            std::process::exit(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    for host in hosts.hosts() {
        let _ = writeln!(
            stdout,
            "{} {} {}",
            host.slot_index(),
            host.netns(),
            host.addr()
        );
    }
    let _ = writeln!(stdout, "key {}", hosts.user_key().private_path.display());
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    drop(stdout);
    loop {
        std::thread::park();
    }
}
