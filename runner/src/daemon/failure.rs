//! [`Failure`]: why a job could not run, as a reason code and a message.
//! A leaf under the supervisor and the executors, which all report it.

/// Why a job could not run.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(reason: &'static str, message: String) -> Self {
        Self { reason, message }
    }

    pub fn executor(message: String) -> Self {
        Self::new("executor_error", message)
    }
}
