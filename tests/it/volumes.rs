//! Local volumes seen from any working directory: ids that are absolute
//! paths, ids recorded relative by older versions read relative to the
//! project, and a delete that finds nothing there saying so.

use std::path::{Path, PathBuf};

use dstack_state::{Expected, ResourceStore};

use crate::harness::{dstack_in, output_text, scratch_dir};

const VOLUME: &str = "type: volume\nname: data\nbackend: local\nregion: local\nsize: 1GB\n";

/// `<scratch>/proj` with one local volume applied from inside the project
/// (`--project-dir .`), holding one file of data.
fn applied_volume(name: &str) -> (PathBuf, PathBuf) {
    let parent = scratch_dir(name);
    let project = parent.join("proj");
    std::fs::create_dir_all(project.join(".dstack")).expect("project");
    std::fs::write(project.join("data.dstack.yml"), VOLUME).expect("config");
    std::fs::write(
        project.join(".dstack/backends.yml"),
        "local:\n  runtime: fake\n",
    )
    .expect("backends");
    let out = dstack_in(&project, &["--project-dir", ".", "apply", "-y"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let data = project.join(".dstack/volumes/data");
    std::fs::write(data.join("weights.bin"), "precious").expect("data");
    (parent, project)
}

fn recorded_volume_id(project: &Path) -> Option<String> {
    let store = dstack_state::sqlite::SqliteStore::open(&project.join(".dstack/state.db"))
        .expect("state opens");
    let row = store
        .get(&"volume/data".parse().expect("address"))
        .expect("get");
    row.and_then(|r| r.provider_id)
}

/// From the parent directory: the refresh sees no drift, and destroying the
/// volume removes its directory.
fn check_from_parent(parent: &Path, project: &Path) {
    let out = dstack_in(
        parent,
        &[
            "--project-dir",
            "proj",
            "plan",
            "--refresh",
            "--detailed-exitcode",
        ],
    );
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("deleted outside"), "{text}");
    assert!(!text.contains("state does not know"), "{text}");
    let out = dstack_in(
        parent,
        &[
            "--project-dir",
            "proj",
            "destroy",
            "--target",
            "volume/data",
            "-y",
        ],
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("volume/data: Deletion complete"), "{text}");
    assert!(
        !project.join(".dstack/volumes/data").exists(),
        "the volume's directory outlived its deletion:\n{text}"
    );
    assert_eq!(recorded_volume_id(project), None);
}

#[test]
fn local_volume_ids_do_not_depend_on_the_working_directory() {
    let (parent, project) = applied_volume("volume-cwd");
    let id = recorded_volume_id(&project).expect("recorded id");
    assert!(Path::new(&id).is_absolute(), "recorded id {id} is relative");
    check_from_parent(&parent, &project);
    let _ = std::fs::remove_dir_all(parent);
}

#[test]
fn relative_volume_ids_of_older_versions_are_read_relative_to_the_project() {
    let (parent, project) = applied_volume("volume-old-id");
    let store = dstack_state::sqlite::SqliteStore::open(&project.join(".dstack/state.db"))
        .expect("state opens");
    let address = "volume/data".parse().expect("address");
    let mut row = store.get(&address).expect("get").expect("recorded");
    row.provider_id = Some("./.dstack/volumes/data".into());
    row.data = serde_json::json!({ "path": "./.dstack/volumes/data", "size_gb": 1.0 });
    store
        .put(&row, Expected::Version(row.version))
        .expect("old-style row written");
    drop(store);
    check_from_parent(&parent, &project);
    let _ = std::fs::remove_dir_all(parent);
}

#[test]
fn deleting_a_volume_that_is_already_gone_says_nothing_was_deleted() {
    let (parent, project) = applied_volume("volume-gone");
    std::fs::remove_dir_all(project.join(".dstack/volumes/data")).expect("removed by hand");
    let out = dstack_in(&project, &["destroy", "--target", "volume/data", "-y"]);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("volume/data: nothing to delete, it was already gone"),
        "{text}"
    );
    assert!(!text.contains("Deletion complete"), "{text}");
    assert!(text.contains("1 found nothing to delete"), "{text}");
    assert_eq!(recorded_volume_id(&project), None);
    let _ = std::fs::remove_dir_all(parent);
}
