//! What a recorded resource's status is, read one way by every command
//! (`ps`, `state list`, plans): a job's and an instance's is what its row
//! says; a run's is its jobs' (its own row only says it was submitted).

use dstack_schemas::addr::{ResourceAddr, ResourceKind};

use crate::model::RecordedResource;

/// Statuses of runs and jobs that have ended.
pub const FINISHED: &[&str] = &["done", "failed", "terminated", "aborted", "stopped"];

/// The status of a run from its job rows: `done` when all are done; the
/// first other ending when all ended; `running` while any runs; else the
/// first unfinished job's (`submitted`, `pulling`, ...). A run that is
/// not a service and has no job yet is `pending` (an apply could not
/// submit one; the next tries again).
pub fn run_status(run: &RecordedResource, jobs: &[&RecordedResource]) -> String {
    let finished = |j: &&&RecordedResource| FINISHED.contains(&j.status.as_str());
    let service = run.spec.get("type").and_then(|t| t.as_str()) == Some("service");
    if jobs.is_empty() {
        return if service {
            run.status.clone()
        } else {
            "pending".into()
        };
    }
    if jobs.iter().all(|j| finished(&j)) {
        return jobs
            .iter()
            .find(|j| j.status != "done")
            .map_or("done".into(), |j| j.status.clone());
    }
    if jobs.iter().any(|j| j.status == "running") {
        return "running".into();
    }
    jobs.iter()
        .find(|j| !finished(j))
        .map_or("running".into(), |j| j.status.clone())
}

/// The status of `row` among all `rows` of state (a run's jobs are rows).
pub fn status_of(row: &RecordedResource, rows: &[RecordedResource]) -> String {
    if row.address.kind() != ResourceKind::Run {
        return row.status.clone();
    }
    let name = row.address.name();
    let jobs: Vec<&RecordedResource> = rows
        .iter()
        .filter(|r| matches!(&r.address, ResourceAddr::Job(run, _) if run == name))
        .collect();
    run_status(row, &jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(address: &str, status: &str) -> RecordedResource {
        let mut r = RecordedResource::new(
            address.parse().expect("address"),
            serde_json::json!({"type": "task"}),
            "fp".into(),
        );
        r.status = status.into();
        r
    }

    fn check(jobs: &[&str], expect: &str) {
        let mut rows = vec![row("run/r", "submitted")];
        rows.extend(
            jobs.iter()
                .enumerate()
                .map(|(i, s)| row(&format!("run/r/job/{i}"), s)),
        );
        rows.push(row("run/other/job/0", "failed"));
        assert_eq!(status_of(&rows[0], &rows), expect, "jobs {jobs:?}");
    }

    #[test]
    fn a_run_is_what_its_jobs_say() {
        check(&[], "pending");
        check(&["done"], "done");
        check(&["done", "done"], "done");
        check(&["done", "terminated", "failed"], "terminated");
        check(&["running", "submitted"], "running");
        check(&["done", "pulling"], "pulling");
        let mut service = row("run/s", "submitted");
        service.spec = serde_json::json!({"type": "service"});
        assert_eq!(status_of(&service, &[]), "submitted");
        assert_eq!(status_of(&row("volume/v", "active"), &[]), "active");
    }
}
