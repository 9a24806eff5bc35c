//! [`WorkflowStore`] on SQLite: runs and jobs of 2022 workflows as JSON
//! bodies, with the columns queries filter on beside them.

use rusqlite::{OptionalExtension, params};

use super::rows::bad_row;
use super::store::SqliteStore;
use crate::model::{WorkflowJob, WorkflowRun};
use crate::store::{StateError, WorkflowStore};

fn decode<T: serde::de::DeserializeOwned>(key: &str, body: &str) -> Result<T, StateError> {
    serde_json::from_str(body).map_err(|e| bad_row(key, e))
}

impl WorkflowStore for SqliteStore {
    fn put_workflow_run(&self, run: &WorkflowRun) -> Result<(), StateError> {
        let body = serde_json::to_string(run).map_err(|e| bad_row(&run.name, e))?;
        self.run(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO workflow_runs (name, created_at, body) VALUES (?1, ?2, ?3)",
                params![run.name, run.created_at, body],
            )?;
            Ok(())
        })
    }

    fn workflow_run(&self, name: &str) -> Result<Option<WorkflowRun>, StateError> {
        let body: Option<String> = self.run(|conn| {
            Ok(conn
                .query_row(
                    "SELECT body FROM workflow_runs WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        body.map(|b| decode(name, &b)).transpose()
    }

    fn workflow_runs(&self) -> Result<Vec<WorkflowRun>, StateError> {
        let rows: Vec<(String, String)> = self.run(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, body FROM workflow_runs ORDER BY created_at DESC, name DESC",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get("name")?, r.get("body")?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        rows.iter().map(|(name, body)| decode(name, body)).collect()
    }

    fn put_workflow_job(&self, job: &WorkflowJob) -> Result<(), StateError> {
        let key = format!("{}/{}", job.run, job.workflow);
        let body = serde_json::to_string(job).map_err(|e| bad_row(&key, e))?;
        self.run(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO workflow_jobs (run, workflow, input_hash, status, finished_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![job.run, job.workflow, job.input_hash, job.status.as_str(), job.finished_at, body],
            )?;
            Ok(())
        })
    }

    fn workflow_jobs(&self, run: &str) -> Result<Vec<WorkflowJob>, StateError> {
        let rows: Vec<(String, String)> = self.run(|conn| {
            let mut stmt = conn.prepare(
                "SELECT workflow, body FROM workflow_jobs WHERE run = ?1 ORDER BY rowid",
            )?;
            let rows = stmt
                .query_map([run], |r| Ok((r.get("workflow")?, r.get("body")?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        rows.iter()
            .map(|(workflow, body)| decode(&format!("{run}/{workflow}"), body))
            .collect()
    }

    fn done_workflow_job(&self, input_hash: &str) -> Result<Option<WorkflowJob>, StateError> {
        let body: Option<String> = self.run(|conn| {
            Ok(conn
                .query_row(
                    "SELECT body FROM workflow_jobs WHERE input_hash = ?1 AND status = 'done' ORDER BY finished_at DESC LIMIT 1",
                    [input_hash],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        body.map(|b| decode(input_hash, &b)).transpose()
    }
}
