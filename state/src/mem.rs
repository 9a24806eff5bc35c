//! `MemStore`: state in memory, for tests and benchmarks. Same semantics as
//! the SQLite store (the conformance suite checks both).

use dstack_schemas::status::Status;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use dstack_schemas::addr::ResourceAddr;

use crate::model::{
    ApplyRecord, Expected, Forgotten, Intent, IntentOutcome, LockInfo, LockRequest, LogLine,
    LogSubmission, NewIntent, RecordedResource, WorkflowJob, WorkflowRun, now_ms,
};
use crate::sqlite::random_id;
use crate::store::{
    ApplyHistory, IntentJournal, LogStore, ResourceStore, StateError, StateLock, WorkflowStore,
    pid_alive,
};

#[derive(Default)]
struct Inner {
    resources: BTreeMap<ResourceAddr, RecordedResource>,
    forgotten: Vec<Forgotten>,
    intents: Vec<Intent>,
    applies: Vec<ApplyRecord>,
    lock: Option<LockInfo>,
    logs: BTreeMap<(String, String, u64), LogLine>,
    submissions: BTreeMap<String, Vec<LogSubmission>>,
    workflow_runs: BTreeMap<String, WorkflowRun>,
    workflow_jobs: Vec<WorkflowJob>,
}

/// State kept in memory.
pub struct MemStore {
    lineage: String,
    inner: Mutex<Inner>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self {
            lineage: random_id(16),
            inner: Mutex::default(),
        }
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ResourceStore for MemStore {
    fn lineage(&self) -> Result<String, StateError> {
        Ok(self.lineage.clone())
    }

    fn list(&self) -> Result<Vec<RecordedResource>, StateError> {
        Ok(self.inner().resources.values().cloned().collect())
    }

    fn get(&self, address: &ResourceAddr) -> Result<Option<RecordedResource>, StateError> {
        Ok(self.inner().resources.get(address).cloned())
    }

    fn put(
        &self,
        resource: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        let mut inner = self.inner();
        let current = inner.resources.get(&resource.address).map(|r| r.version);
        expected.check(&resource.address, current)?;
        let mut stored = resource.clone();
        stored.version = current.map_or(1, |v| v + 1);
        stored.updated_at = now_ms();
        inner
            .resources
            .insert(stored.address.clone(), stored.clone());
        Ok(stored)
    }

    fn remove(&self, address: &ResourceAddr, expected: Expected) -> Result<(), StateError> {
        let mut inner = self.inner();
        let current = inner.resources.get(address).map(|r| r.version);
        expected.check(address, current)?;
        inner.resources.remove(address);
        Ok(())
    }

    fn forget(
        &self,
        address: &ResourceAddr,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        let mut inner = self.inner();
        let current = inner.resources.get(address).map(|r| r.version);
        expected.check(address, current)?;
        let row = inner
            .resources
            .remove(address)
            .ok_or_else(|| StateError::Conflict {
                address: address.clone(),
                expected: "a row".into(),
                found: "no row".into(),
            })?;
        if let (Some(provider), Some(id)) = (&row.provider, &row.provider_id) {
            inner
                .forgotten
                .retain(|f| (&f.provider, &f.provider_id) != (provider, id));
            inner.forgotten.push(Forgotten {
                address: address.clone(),
                provider: provider.clone(),
                provider_id: id.clone(),
                forgotten_at: now_ms(),
            });
        }
        Ok(row)
    }

    fn forgotten(&self) -> Result<Vec<Forgotten>, StateError> {
        Ok(self.inner().forgotten.clone())
    }
}

impl IntentJournal for MemStore {
    fn begin_intent(&self, intent: &NewIntent) -> Result<i64, StateError> {
        let mut inner = self.inner();
        let id = inner.intents.len() as i64 + 1;
        inner.intents.push(Intent {
            id,
            intent: intent.clone(),
            started_at: now_ms(),
            finished_at: None,
            outcome: None,
            detail: None,
        });
        Ok(id)
    }

    fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        let mut inner = self.inner();
        // Ids are 1-based positions.
        let position = usize::try_from(id - 1).ok();
        if let Some(intent) = position.and_then(|p| inner.intents.get_mut(p)) {
            intent.finished_at = Some(now_ms());
            intent.outcome = Some(outcome);
            intent.detail = detail.map(str::to_string);
        }
        Ok(())
    }

    fn record_and_close(
        &self,
        resource: &RecordedResource,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<RecordedResource, StateError> {
        let stored = self.put(resource, expected)?;
        self.finish_intent(id, IntentOutcome::Done, detail)?;
        Ok(stored)
    }

    fn remove_and_close(
        &self,
        address: &ResourceAddr,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        self.remove(address, expected)?;
        self.finish_intent(id, IntentOutcome::Done, detail)
    }

    fn open_intents(&self) -> Result<Vec<Intent>, StateError> {
        Ok(self
            .inner()
            .intents
            .iter()
            .filter(|i| i.finished_at.is_none())
            .cloned()
            .collect())
    }

    fn intents_of(&self, apply_id: &str) -> Result<Vec<Intent>, StateError> {
        Ok(self
            .inner()
            .intents
            .iter()
            .filter(|i| i.intent.apply_id == apply_id)
            .cloned()
            .collect())
    }
}

impl ApplyHistory for MemStore {
    fn begin_apply(
        &self,
        plan_id: &str,
        holder: &str,
        operation: &str,
    ) -> Result<String, StateError> {
        let id = format!("apply-{}", random_id(6));
        self.inner().applies.push(ApplyRecord {
            id: id.clone(),
            plan_id: plan_id.into(),
            holder: holder.into(),
            operation: operation.into(),
            started_at: now_ms(),
            finished_at: None,
            outcome: None,
            summary: serde_json::json!({}),
        });
        Ok(id)
    }

    fn finish_apply(
        &self,
        id: &str,
        outcome: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StateError> {
        if let Some(a) = self.inner().applies.iter_mut().find(|a| a.id == id) {
            a.finished_at = Some(now_ms());
            a.outcome = Some(outcome.into());
            a.summary = summary.clone();
        }
        Ok(())
    }

    fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError> {
        Ok(self
            .inner()
            .applies
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}

impl StateLock for MemStore {
    fn try_lock(&self, request: &LockRequest) -> Result<LockInfo, StateError> {
        let mut inner = self.inner();
        if let Some(held) = &inner.lock {
            let stale = held.request.host == request.host && !pid_alive(held.request.pid);
            if !stale {
                return Err(StateError::Locked(held.clone()));
            }
        }
        let info = LockInfo {
            id: random_id(8),
            request: request.clone(),
            created_at: now_ms(),
        };
        inner.lock = Some(info.clone());
        Ok(info)
    }

    fn unlock(&self, id: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        match &inner.lock {
            Some(held) if held.id == id => {
                inner.lock = None;
                Ok(())
            }
            _ => Err(StateError::NoSuchLock(id.into())),
        }
    }

    fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.inner().lock.clone())
    }
}

impl Inner {
    fn record_submission(&mut self, job: &str, id: &str, instance: Option<&str>) -> LogSubmission {
        let known = self.submissions.entry(job.to_string()).or_default();
        if let Some(s) = known.iter().find(|s| s.id == id) {
            return s.clone();
        }
        let submission = LogSubmission {
            job: job.to_string(),
            id: id.to_string(),
            number: known.len() as u32,
            instance: instance.map(str::to_string),
            sealed: false,
            recorded_at: now_ms(),
        };
        known.push(submission.clone());
        submission
    }
}

impl LogStore for MemStore {
    fn record_submission(
        &self,
        job: &str,
        submission: &str,
        instance: Option<&str>,
    ) -> Result<LogSubmission, StateError> {
        Ok(self.inner().record_submission(job, submission, instance))
    }

    fn seal_submission(&self, job: &str, submission: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        let known = inner.submissions.get_mut(job).into_iter().flatten();
        for s in known.filter(|s| s.id == submission) {
            s.sealed = true;
        }
        Ok(())
    }

    fn submissions(&self, job: &str) -> Result<Vec<LogSubmission>, StateError> {
        Ok(self
            .inner()
            .submissions
            .get(job)
            .cloned()
            .unwrap_or_default())
    }

    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError> {
        let mut inner = self.inner();
        for l in lines {
            inner.record_submission(&l.job, &l.submission, None);
            inner
                .logs
                .entry((l.job.clone(), l.submission.clone(), l.offset))
                .or_insert_with(|| l.clone());
        }
        Ok(())
    }

    fn logs(
        &self,
        job: &str,
        submission: Option<&str>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError> {
        let inner = self.inner();
        let latest = || {
            inner
                .submissions
                .get(job)
                .and_then(|s| s.last())
                .map(|s| s.id.clone())
        };
        let Some(submission) = submission.map(str::to_string).or_else(latest) else {
            return Ok(Vec::new());
        };
        let start = (job.to_string(), submission.clone(), 0);
        let end = (job.to_string(), submission, u64::MAX);
        Ok(inner
            .logs
            .range(start..=end)
            .map(|(_, l)| l)
            .filter(|l| after_offset.is_none_or(|o| l.offset > o))
            .cloned()
            .collect())
    }
}

impl WorkflowStore for MemStore {
    fn put_workflow_run(&self, run: &WorkflowRun) -> Result<(), StateError> {
        self.inner()
            .workflow_runs
            .insert(run.name.clone(), run.clone());
        Ok(())
    }

    fn workflow_run(&self, name: &str) -> Result<Option<WorkflowRun>, StateError> {
        Ok(self.inner().workflow_runs.get(name).cloned())
    }

    fn workflow_runs(&self) -> Result<Vec<WorkflowRun>, StateError> {
        let mut runs: Vec<WorkflowRun> = self.inner().workflow_runs.values().cloned().collect();
        runs.sort_by(|a, b| (b.created_at, &b.name).cmp(&(a.created_at, &a.name)));
        Ok(runs)
    }

    fn put_workflow_job(&self, job: &WorkflowJob) -> Result<(), StateError> {
        let mut inner = self.inner();
        match inner
            .workflow_jobs
            .iter_mut()
            .find(|j| j.run == job.run && j.workflow == job.workflow)
        {
            Some(existing) => *existing = job.clone(),
            None => inner.workflow_jobs.push(job.clone()),
        }
        Ok(())
    }

    fn workflow_jobs(&self, run: &str) -> Result<Vec<WorkflowJob>, StateError> {
        Ok(self
            .inner()
            .workflow_jobs
            .iter()
            .filter(|j| j.run == run)
            .cloned()
            .collect())
    }

    fn done_workflow_job(&self, input_hash: &str) -> Result<Option<WorkflowJob>, StateError> {
        Ok(self
            .inner()
            .workflow_jobs
            .iter()
            .filter(|j| j.input_hash == input_hash && j.status == Status::Done)
            .max_by_key(|j| j.finished_at)
            .cloned())
    }
}
