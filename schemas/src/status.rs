//! Statuses, typed: the job status a runner reports ([`JobStatus`], its
//! wire words), and the status a state row holds ([`Status`]), with the one
//! rule of what has finished.
//!
//! [`Status`] is one enum for every kind of row, not one per kind wrapped
//! in another: the rows share one `status` column, a run's status is one
//! of its jobs' (or `pending`), and the commands that read it (`ps`,
//! `state list`, plans) match on it without first asking the kind. Which
//! kind holds which words: instances, volumes, gateways and fleets are
//! `creating`, `active` (or `stopped`); runs are `submitted` or `active`
//! (a service); jobs hold a [`JobStatus`] word; workflow jobs may also be
//! `waiting` or `skipped`, workflow runs `running`, `done`, `failed` or
//! `terminated`.

crate::word_enum! {
    /// What a runner says of a job (the `status` of its wire `JobInfo`).
    pub enum JobStatus("job status") {
        /// Accepted, not started.
        Submitted = "submitted",
        /// Pulling the image.
        Pulling = "pulling",
        /// Running.
        Running = "running",
        /// Stopping: signalled, draining its output.
        Terminating = "terminating",
        /// Exited 0.
        Done = "done",
        /// Exited non-zero or could not start.
        Failed = "failed",
        /// Stopped (by a user, or `max_duration`).
        Terminated = "terminated",
        /// Killed without a graceful stop.
        Aborted = "aborted",
    }
}

crate::word_enum! {
    /// The status of a recorded resource (see the module doc for which
    /// kinds hold which words).
    pub enum Status("status") {
        /// A run with no job yet (an apply could not submit one).
        Pending = "pending",
        /// A workflow job waiting for the jobs it needs.
        Waiting = "waiting",
        /// Being created.
        Creating = "creating",
        /// Created and usable (instances, volumes, gateways, services).
        Active = "active",
        /// Accepted, not started.
        Submitted = "submitted",
        /// Pulling the image.
        Pulling = "pulling",
        /// Running.
        Running = "running",
        /// Stopping: signalled, draining its output.
        Terminating = "terminating",
        /// Exited 0.
        Done = "done",
        /// Exited non-zero or could not start.
        Failed = "failed",
        /// Stopped (by a user, or `max_duration`).
        Terminated = "terminated",
        /// Killed without a graceful stop.
        Aborted = "aborted",
        /// Stopped, not deleted.
        Stopped = "stopped",
        /// A workflow job not run (an earlier one failed, or its output was reused).
        Skipped = "skipped",
    }
}

impl Status {
    /// The one rule of what has finished: it ran and ended, and will not
    /// change again by itself.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Terminated | Self::Aborted | Self::Stopped
        )
    }

    /// Finished, or never to run (`skipped`): nothing more will happen to it.
    pub fn is_final(&self) -> bool {
        self.is_finished() || *self == Self::Skipped
    }

    /// The job status with the same word, if it is one.
    pub fn as_job(&self) -> Option<JobStatus> {
        self.as_str().parse().ok()
    }
}

impl JobStatus {
    /// Finished statuses ([`Status::is_finished`]); a job reaches one only
    /// after its log is sealed.
    pub fn is_finished(&self) -> bool {
        Status::from(*self).is_finished()
    }
}

impl From<JobStatus> for Status {
    fn from(job: JobStatus) -> Self {
        match job {
            JobStatus::Submitted => Self::Submitted,
            JobStatus::Pulling => Self::Pulling,
            JobStatus::Running => Self::Running,
            JobStatus::Terminating => Self::Terminating,
            JobStatus::Done => Self::Done,
            JobStatus::Failed => Self::Failed,
            JobStatus::Terminated => Self::Terminated,
            JobStatus::Aborted => Self::Aborted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: std::str::FromStr + std::fmt::Display + serde::Serialize + PartialEq + std::fmt::Debug,
        T: serde::de::DeserializeOwned,
    {
        for v in all {
            let word = v.to_string();
            assert_eq!(word.parse::<T>().ok().as_ref(), Some(v), "{word}");
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(word));
            let back: T = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(&back, v);
        }
    }

    #[test]
    fn every_word_round_trips() {
        round_trips(JobStatus::ALL);
        round_trips(Status::ALL);
    }

    #[test]
    fn an_unknown_word_is_a_typed_error() {
        let err = "sleeping".parse::<Status>().unwrap_err();
        assert_eq!((err.what, err.word.as_str()), ("status", "sleeping"));
        assert_eq!(err.to_string(), "unknown status `sleeping`");
        assert!("".parse::<JobStatus>().is_err());
    }

    #[test]
    fn one_rule_of_finished() {
        for job in JobStatus::ALL {
            assert_eq!(job.is_finished(), Status::from(*job).is_finished());
            assert_eq!(Status::from(*job).as_job(), Some(*job));
        }
        let finished: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| s.is_finished())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            finished,
            ["done", "failed", "terminated", "aborted", "stopped"]
        );
        assert!(Status::Skipped.is_final() && !Status::Skipped.is_finished());
        assert!(!Status::Running.is_final() && Status::Active.as_job().is_none());
    }
}
