//! What a recorded resource's status is, read one way by every command
//! (`ps`, `state list`, plans): a job's and an instance's is what its row
//! says; a run's is its jobs' (its own row only says it was submitted).

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::status::Status;

use crate::model::RecordedResource;

/// The status of a run from its job rows: `done` when all are done; the
/// first other ending when all ended; `running` while any runs; else the
/// first unfinished job's (`submitted`, `pulling`, ...). A run that is
/// not a service and has no job yet is `pending` (an apply could not
/// submit one; the next tries again).
pub fn run_status(run: &RecordedResource, jobs: &[&RecordedResource]) -> Status {
    let service = run.spec.get("type").and_then(|t| t.as_str()) == Some("service");
    if jobs.is_empty() {
        return if service { run.status } else { Status::Pending };
    }
    if jobs.iter().all(|j| j.status.is_finished()) {
        return jobs
            .iter()
            .find(|j| j.status != Status::Done)
            .map_or(Status::Done, |j| j.status);
    }
    if jobs.iter().any(|j| j.status == Status::Running) {
        return Status::Running;
    }
    jobs.iter()
        .find(|j| !j.status.is_finished())
        .map_or(Status::Running, |j| j.status)
}

/// The status of `row` among all `rows` of state (a run's jobs are rows).
pub fn status_of(row: &RecordedResource, rows: &[RecordedResource]) -> Status {
    if row.address.kind() != ResourceKind::Run {
        return row.status;
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
        r.status = status.parse().expect("status");
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
        assert_eq!(status_of(&rows[0], &rows).as_str(), expect, "jobs {jobs:?}");
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
        assert_eq!(status_of(&service, &[]), Status::Submitted);
        assert_eq!(status_of(&row("volume/v", "active"), &[]), Status::Active);
    }
}
