-- Runs of 2022-format workflows (`dstack run WORKFLOW`): imperative runs
-- beside the desired-state resources. Bodies are JSON (see model.rs).
CREATE TABLE workflow_runs (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);

CREATE TABLE workflow_jobs (
    run        TEXT NOT NULL,
    workflow   TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    status     TEXT NOT NULL,
    finished_at INTEGER,
    body       TEXT NOT NULL,
    PRIMARY KEY (run, workflow)
);
CREATE INDEX workflow_jobs_inputs ON workflow_jobs (input_hash, status);
