//! The container a submission becomes (no engine needed).

use super::*;
use crate::api::{ExecutorKind, Limits, Mount, PortRequest};

fn sub() -> JobSubmission {
    JobSubmission {
        token: "t".into(),
        run_name: "r".into(),
        job_name: "r-0-0".into(),
        executor: ExecutorKind::Docker,
        image: Some("img".into()),
        pull_policy: PullPolicy::Missing,
        command: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
        env: [("A".to_string(), "1".to_string())].into(),
        working_dir: Some("src".into()),
        user: None,
        privileged: false,
        ports: vec![PortRequest {
            container: 80,
            host: Some(8080),
        }],
        mounts: vec![Mount {
            source: "/data".into(),
            target: "/d".into(),
            read_only: true,
        }],
        limits: Limits {
            cpus: Some(1.5),
            memory_mb: Some(512),
            shm_mb: Some(64),
            gpus: Some(2),
        },
        archives: Vec::new(),
        artifacts: Vec::new(),
        max_duration_secs: None,
        stop_grace_secs: None,
    }
}

#[test]
fn gpus_become_an_nvidia_device_request() {
    let body = container_body("r1", 8, "j1", &sub()).unwrap();
    let host = body.host_config.unwrap();
    let request = &host.device_requests.unwrap()[0];
    assert_eq!(request.driver.as_deref(), Some("nvidia"));
    assert_eq!(request.count, Some(2));
    assert_eq!(request.capabilities, Some(vec![vec!["gpu".to_string()]]));
    assert_eq!(host.nano_cpus, Some(1_500_000_000));
    assert_eq!(host.memory, Some(512_000_000));
    assert_eq!(host.shm_size, Some(64_000_000));
    assert_eq!(host.binds, Some(vec!["/data:/d:ro".to_string()]));
    let binding = &host.port_bindings.unwrap()["80/tcp"].clone().unwrap()[0];
    assert_eq!(
        (binding.host_ip.as_deref(), binding.host_port.as_deref()),
        (Some("127.0.0.1"), Some("8080"))
    );
    assert_eq!(body.working_dir.as_deref(), Some("/workflow/src"));
    assert_eq!(body.entrypoint, Some(vec!["/bin/sh".to_string()]));
    assert!(body.env.unwrap().contains(&"DSTACK_JOB_ID=j1".to_string()));
}

#[test]
fn gpus_on_a_host_without_them_fail_clearly() {
    let err = container_body("r1", 0, "j1", &sub()).unwrap_err();
    assert_eq!(err.reason, "executor_error");
    assert!(err.message.contains("no NVIDIA GPU"), "{}", err.message);
    let mut no_gpu = sub();
    no_gpu.limits.gpus = None;
    let body = container_body("r1", 0, "j1", &no_gpu).unwrap();
    assert!(body.host_config.unwrap().device_requests.is_none());
}

#[test]
fn paths_resolve_against_the_working_directory() {
    assert_eq!(container_path("/workflow", "."), "/workflow");
    assert_eq!(container_path("/workflow", "./out"), "/workflow/out");
    assert_eq!(container_path("/workflow/", "out"), "/workflow/out");
    assert_eq!(container_path("/workflow", "/abs"), "/abs");
}
