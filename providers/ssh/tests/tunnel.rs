//! Tunnels over a real sshd to a server on the host's loopback, which the
//! machine cannot reach any other way.

mod common;

use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use common::{hosts, http, quick, serve_on_loopback, target};
use dstack_ssh::{ErrorKind, Session};
use dstack_testhosts::HostSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_on_the_hosts_loopback_is_reachable_only_through_the_tunnel() {
    let hosts = hosts(&[HostSpec::new("box")]);
    serve_on_loopback(&hosts, "box", 8080, "hello from box");
    let direct = TcpStream::connect_timeout(
        &SocketAddrV4::new(hosts["box"].addr(), 8080).into(),
        Duration::from_secs(2),
    );
    assert_eq!(
        direct.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );

    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let tunnel = session.tunnel(8080).await.unwrap();
    assert!(tunnel.local_addr().ip().is_loopback());
    let client = http();
    let url = format!("{}/index.html", tunnel.http_url());
    let requests = (0..6).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await?.text().await })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.unwrap().unwrap(), "hello from box");
    }
    assert_eq!(
        hosts["box"].ssh_connections().unwrap(),
        1,
        "all requests in one SSH connection"
    );

    let addr = tunnel.local_addr();
    drop(tunnel);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "a dropped tunnel stops listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_carries_bytes_both_ways() {
    let hosts = hosts(&[HostSpec::new("box")]);
    serve_on_loopback(&hosts, "box", 8081, "raw");
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let mut stream = session.open_stream("127.0.0.1", 8081).await.unwrap();
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: box\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nraw"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_nothing_listens_on_fails_cleanly() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let refused = session.open_stream("127.0.0.1", 9).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Channel);
    assert!(
        refused
            .to_string()
            .contains("cannot reach 127.0.0.1:9 from the host"),
        "{refused}"
    );

    // Through a tunnel, the local connection just ends; the tunnel lives on.
    let tunnel = session.tunnel(9).await.unwrap();
    let failed = http().get(tunnel.http_url()).send().await;
    assert!(failed.is_err(), "{failed:?}");
    serve_on_loopback(&hosts, "box", 8082, "later");
    let working = session.tunnel(8082).await.unwrap();
    let body = http()
        .get(format!("{}/index.html", working.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), "later");
}
