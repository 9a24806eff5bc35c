//! Confirmation prompts: one answer read from standard input, whether it is
//! a terminal or a pipe (`echo y | dstack apply`). `y` and `yes` (any case)
//! accept; anything else declines; no answer at all (EOF) is a usage error
//! that says to pass `-y`.

use std::io::{BufRead, IsTerminal};

use crate::error::CliError;

/// What one line of standard input means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `y` or `yes`, in any case.
    Accept,
    /// Any other line.
    Decline,
    /// Standard input ended before a line came.
    Missing,
}

/// Interprets what was read: `None` when standard input had ended.
pub fn interpret(line: Option<&str>) -> Answer {
    match line.map(str::trim) {
        None => Answer::Missing,
        Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => Answer::Accept,
        Some(_) => Answer::Decline,
    }
}

/// Reads one line (`None` at end of input).
pub fn read_line(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    match reader.read_line(&mut line)? {
        0 => Ok(None),
        _ => Ok(Some(line)),
    }
}

/// Asks `question` and reads the answer from standard input.
pub fn confirm(question: &str) -> Result<bool, CliError> {
    let terminal = std::io::stdin().is_terminal();
    out!("\n{question} [y/N]: ")?;
    crate::output::flush()?;
    let line = read_line(&mut std::io::stdin().lock())?;
    if !terminal && let Some(answer) = &line {
        // A piped answer is not echoed; show what was read.
        outln!("{}", answer.trim())?;
    }
    match interpret(line.as_deref()) {
        Answer::Accept => Ok(true),
        Answer::Decline => Ok(false),
        Answer::Missing => {
            outln!()?;
            Err(CliError::Usage(
                "no answer to the question above: standard input ended without one; pass -y to confirm, or pipe an answer (`echo y | dstack ...`)".into(),
            ))
        }
    }
}

/// What to do with a run after Ctrl+C while attached to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterInterrupt {
    /// Stop the run.
    Stop,
    /// Detach; the run goes on.
    Leave,
}

/// `y`/`yes` stops the run; anything else, or no answer, leaves it running.
pub fn after_interrupt(answer: Answer) -> AfterInterrupt {
    match answer {
        Answer::Accept => AfterInterrupt::Stop,
        Answer::Decline | Answer::Missing => AfterInterrupt::Leave,
    }
}

/// Asks (on stderr, stdout carries the log) whether to stop `run`.
pub fn ask_stop(run: &str) -> AfterInterrupt {
    crate::output::write_err(format_args!(
        "\nInterrupted. Stop run/{run}? [y/N] (anything else leaves it running): "
    ));
    let line = read_line(&mut std::io::stdin().lock()).unwrap_or(None);
    if !std::io::stdin().is_terminal() {
        crate::output::write_err(format_args!(
            "{}\n",
            line.as_deref().map_or("(no answer)", str::trim)
        ));
    }
    after_interrupt(interpret(line.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_stops_a_run_after_ctrl_c() {
        assert_eq!(
            after_interrupt(interpret(Some("y\n"))),
            AfterInterrupt::Stop
        );
        assert_eq!(
            after_interrupt(interpret(Some("YES"))),
            AfterInterrupt::Stop
        );
        assert_eq!(after_interrupt(interpret(Some("n"))), AfterInterrupt::Leave);
        assert_eq!(after_interrupt(interpret(Some(""))), AfterInterrupt::Leave);
        assert_eq!(after_interrupt(interpret(None)), AfterInterrupt::Leave);
    }

    #[test]
    fn y_and_yes_accept_in_any_case() {
        for a in ["y", "Y", "yes", "YES", "Yes", " yes \n", "y\r\n"] {
            assert_eq!(interpret(Some(a)), Answer::Accept, "{a:?}");
        }
    }

    #[test]
    fn anything_else_declines_and_eof_is_no_answer() {
        for a in ["n", "no", "", "\n", "yess", "ye", "oui", "y es"] {
            assert_eq!(interpret(Some(a)), Answer::Decline, "{a:?}");
        }
        assert_eq!(interpret(None), Answer::Missing);
    }

    #[test]
    fn one_line_is_read_and_eof_is_none() {
        let mut input = std::io::Cursor::new("yes\nno\n");
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("yes\n"));
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("no\n"));
        assert_eq!(read_line(&mut input).unwrap(), None);
    }
}
