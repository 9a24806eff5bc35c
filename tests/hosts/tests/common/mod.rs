//! Helpers shared by the harness's own tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use dstack_testhosts::{CmdOutput, HostSet, HostSpec};

/// Builds a set of `specs`, failing the test with the harness's reason.
pub fn build(specs: &[HostSpec]) -> HostSet {
    specs
        .iter()
        .cloned()
        .fold(HostSet::builder(), |builder, spec| builder.host(spec))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `script` on host `name` as `user` with the real `ssh` client.
pub fn ssh(hosts: &HostSet, name: &str, user: &str, script: &str) -> CmdOutput {
    let output = hosts
        .ssh_command(name, user)
        .arg(script)
        .output()
        .expect("run ssh");
    CmdOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
