//! A job's secrets on the runner's disk: directories 0700, files 0600, and
//! no env value written anywhere, while the job runs and after it ends;
//! a directory an older runner left (values in clear, 0644) is scrubbed
//! on start-up.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{Runner, collect_log, sh, submission, wait_finished, wait_for_line};
use dstack_runner::api::{JobStatus, JobSubmission, LogStream};

const SECRET: &str = "s3cret-value-71";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

fn secret_job(script: &str) -> JobSubmission {
    let mut sub = submission("secret", sh(script));
    sub.env = BTreeMap::from([("API_TOKEN".into(), SECRET.into())]);
    sub
}

/// The job folder and its files are private; nothing holds the secret.
fn assert_private(runner: &Runner, job_dir: &Path) {
    assert_eq!(mode(job_dir), 0o700, "{}", job_dir.display());
    assert_eq!(mode(job_dir.parent().unwrap()), 0o700);
    for file in ["submission.json", "info.json", "log.jsonl"] {
        assert_eq!(mode(&job_dir.join(file)), 0o600, "{file}");
    }
    assert_eq!(
        files_holding(runner.dir.path(), SECRET),
        Vec::<PathBuf>::new()
    );
}

#[tokio::test]
async fn a_jobs_secrets_never_rest_on_the_runners_disk() {
    let runner = Runner::start();
    // The job sees the value (its command must not spell it out).
    let sub = secret_job("test \"${API_TOKEN#s3cret-}\" = value-71 && echo has-it; sleep 600");
    let info = runner.client.submit(&sub).await.unwrap();
    let job_dir = runner.dir.path().join("jobs").join(&info.id);
    wait_for_line(&runner.client, &info.id, "has-it").await;
    assert_private(&runner, &job_dir);
    let stored = std::fs::read_to_string(job_dir.join("submission.json")).unwrap();
    assert!(
        stored.contains("\"API_TOKEN\": \"(not stored)\""),
        "{stored}"
    );
    runner.client.stop(&info.id, true).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(info.status, JobStatus::Aborted);
    assert_private(&runner, &job_dir);
    let log = collect_log(&runner.client, &info.id).await;
    assert_eq!(crate::common::lines(&log, LogStream::Stdout), ["has-it"]);
}

#[tokio::test]
async fn a_restarted_runner_scrubs_what_an_older_one_stored() {
    let mut runner = Runner::start();
    let sub = secret_job("echo done");
    let info = runner.client.submit(&sub).await.unwrap();
    wait_finished(&runner.client, &info.id).await;
    runner.kill9();
    // As an older runner left it: the values in clear, readable by all.
    let job_dir = runner.dir.path().join("jobs").join(&info.id);
    let old = job_dir.join("submission.json");
    std::fs::write(&old, serde_json::to_vec_pretty(&sub).unwrap()).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&job_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(files_holding(runner.dir.path(), SECRET), [old]);
    runner.restart();
    let again = runner.client.job(&info.id).await.unwrap();
    assert_eq!(again.status, JobStatus::Done, "the record stays");
    assert_private(&runner, &job_dir);
}
