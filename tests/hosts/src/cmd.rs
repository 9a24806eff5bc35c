//! Running the machine's tools (`ip`, `nsenter`, `ssh-keygen`, ...) with
//! checked exit status and captured output.

use std::process::{Command, Output};

use crate::error::HarnessError;

/// What a finished command printed, and how it ended.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl CmdOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The command line as one string, for error messages.
pub(crate) fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// Runs `command` to completion and returns its output, whatever its status.
pub(crate) fn output(command: &mut Command) -> Result<CmdOutput, HarnessError> {
    let raw = command.output().map_err(|source| HarnessError::Spawn {
        command: describe(command),
        source,
    })?;
    Ok(CmdOutput::from_output(raw))
}

/// Runs `command` and fails unless it exits with 0.
pub(crate) fn run(command: &mut Command) -> Result<CmdOutput, HarnessError> {
    let result = output(command)?;
    if result.success() {
        return Ok(result);
    }
    Err(HarnessError::Command {
        command: describe(command),
        status: result.code.map_or_else(
            || "killed by a signal".to_owned(),
            |code| format!("exit {code}"),
        ),
        stderr: result.stderr.trim().to_owned(),
    })
}

/// `ip ARGS...`, checked.
pub(crate) fn ip(args: &[&str]) -> Result<CmdOutput, HarnessError> {
    run(Command::new("ip").args(args))
}
