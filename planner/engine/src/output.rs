//! Where the engine's progress lines and warnings go: the composition root
//! (the CLI today, a server later) decides, the engine never prints.

/// A sink for the engine's text output. Writes are best effort: a closed
/// stdout must not stop a run.
pub trait Output: Send + Sync {
    /// A line (or lines) for standard output, newline included.
    fn out(&self, text: &str);
    /// A line (or lines) for standard error, newline included.
    fn err(&self, text: &str);
}

/// An output that keeps nothing (tests, background work).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Output for Discard {
    fn out(&self, _: &str) {}
    fn err(&self, _: &str) {}
}
