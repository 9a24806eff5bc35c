//! Uploads over a real sshd: a 50 MB binary verified by SHA-256 on the
//! host, modes, atomic placement, and refusals.

mod common;

use std::time::Duration;

use common::{CMD, hosts, quick, target};
use dstack_ssh::{ErrorKind, Session, UploadSource};
use dstack_testhosts::{HostSpec, TestUser};
use sha2::{Digest, Sha256};

/// Deterministic, incompressible-looking bytes.
fn payload(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_file_arrives_whole_with_its_mode() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let bytes = payload(50 * 1024 * 1024);
    let local = hosts.scratch_dir().join("dstack-runner");
    std::fs::write(&local, &bytes).unwrap();
    let expected = hex::encode(Sha256::digest(&bytes));

    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let report = session
        .upload(
            UploadSource::File(&local),
            "/usr/local/bin/dstack-runner",
            0o755,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert_eq!(report.bytes, bytes.len() as u64);
    assert_eq!(report.sha256, expected);

    let seen = hosts["box"]
        .root("sha256sum /usr/local/bin/dstack-runner; stat -c %a /usr/local/bin/dstack-runner; ls /usr/local/bin")
        .unwrap();
    let lines: Vec<&str> = seen.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("{expected}  /usr/local/bin/dstack-runner")
    );
    assert_eq!(lines[1], "755");
    assert_eq!(
        &lines[2..],
        ["dstack-runner"],
        "no temporary file left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_replace_an_existing_file_and_create_its_directory() {
    let hosts = hosts(&[HostSpec::new("box").user(TestUser::Sudo)]);
    let session = Session::connect(&target(&hosts, "box", TestUser::Sudo.name()), &quick())
        .await
        .unwrap();
    let path = "/home/dstack-sudo/.dstack/runner/config.json";
    for body in [&b"{\"v\": 1}"[..], &b"{\"v\": 2}"[..]] {
        session
            .upload(UploadSource::Bytes(body), path, 0o600, CMD)
            .await
            .unwrap();
    }
    let seen = session
        .run(&format!("cat {path}; echo; stat -c '%a %U' {path}"), CMD)
        .await
        .unwrap();
    assert_eq!(seen, "{\"v\": 2}\n600 dstack-sudo\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_user_may_not_write_fails_and_leaves_nothing() {
    let hosts = hosts(&[HostSpec::new("box").user(TestUser::NoSudo)]);
    let session = Session::connect(&target(&hosts, "box", TestUser::NoSudo.name()), &quick())
        .await
        .unwrap();
    let refused = session
        .upload(
            UploadSource::Bytes(b"x"),
            "/usr/local/bin/dstack-runner",
            0o755,
            CMD,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Remote);
    assert!(
        refused.to_string().contains("Permission denied"),
        "{refused}"
    );
    let left = hosts["box"].root("ls -A /usr/local/bin").unwrap();
    assert_eq!(left.stdout, "");

    let missing = session
        .upload(
            UploadSource::File(std::path::Path::new("/nonexistent/file")),
            "/tmp/x",
            0o644,
            CMD,
        )
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), &ErrorKind::InvalidInput);
    let nul = session
        .upload(UploadSource::Bytes(b"x"), "/tmp/a\0b", 0o644, CMD)
        .await
        .unwrap_err();
    assert_eq!(nul.kind(), &ErrorKind::InvalidInput);
}
