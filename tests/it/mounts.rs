//! A Docker job mounting a local volume, applied with a relative
//! `--project-dir` from outside the project: the mount source handed to
//! Docker is absolute whether the volume's recorded id is (this version)
//! or is relative (recorded by older versions), and the job reads and
//! writes the volume's directory. Real Docker (busybox, `.ci/docker-up`).

use dstack_state::{Expected, ResourceStore};

use crate::jobs::{JobProject, text};

const VOLUME: &str = "type: volume\nname: cache\nbackend: local\nregion: local\nsize: 1GB\n";
const TASK: &str = "type: task\nname: vt\nimage: busybox\nvolumes: [cache:/cache]\ncommands:\n  - cat /cache/in.txt\n  - echo written > /cache/out.txt\n";

/// `<p>/proj` with the volume applied (from inside, `--project-dir .`).
fn project_with_volume(p: &JobProject) -> std::path::PathBuf {
    p.write("proj/cache.dstack.yml", VOLUME);
    let project = p.dir.join("proj");
    let out = p
        .command(&["--project-dir", "proj", "apply", "-y"])
        .output()
        .expect("dstack runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        project.join(".dstack/volumes/cache/in.txt"),
        "from the volume\n",
    )
    .unwrap();
    p.write("proj/vt.dstack.yml", TASK);
    project
}

fn apply_task_from_parent(p: &JobProject, project: &std::path::Path) {
    let out = p
        .command(&[
            "--project-dir",
            "proj",
            "apply",
            "-y",
            "-f",
            "proj/vt.dstack.yml",
        ])
        .output()
        .expect("dstack runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("from the volume\n"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(project.join(".dstack/volumes/cache/out.txt")).unwrap(),
        "written\n"
    );
}

#[test]
fn a_docker_job_mounts_a_local_volume_with_a_relative_project_dir() {
    let p = JobProject::new("mount-rel");
    let project = project_with_volume(&p);
    apply_task_from_parent(&p, &project);
}

#[test]
fn a_volume_recorded_with_a_relative_id_mounts_by_its_absolute_path() {
    let p = JobProject::new("mount-old-id");
    let project = project_with_volume(&p);
    let store = dstack_state::sqlite::SqliteStore::open(&project.join(".dstack/state.db"))
        .expect("state opens");
    let address = "volume/cache".parse().expect("address");
    let mut row = store.get(&address).expect("get").expect("recorded");
    row.provider_id = Some("./.dstack/volumes/cache".into());
    row.data = serde_json::json!({
        "path": "./.dstack/volumes/cache",
        "mount_source": "./.dstack/volumes/cache",
        "size_gb": 1.0,
    });
    store
        .put(&row, Expected::Version(row.version))
        .expect("old-style row written");
    drop(store);
    apply_task_from_parent(&p, &project);
}
