//! Diagnostics as data: what went wrong, where (byte spans into one source
//! file), and what to do about it.
//!
//! Owns [`Diagnostic`], [`Span`] and [`SourceFile`]. Rendering for humans goes
//! through `miette` (see [`FileReport`]); rendering for machines through serde.
//! This module never prints anything itself.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A byte range in a source file. Zero length means "at this position".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Span {
    /// A span from a start offset and a length.
    pub fn new(start: usize, len: usize) -> Self {
        Self { start, len }
    }

    /// The byte offset one past the end.
    pub fn end(&self) -> usize {
        self.start + self.len
    }

    /// A sub-span, `offset` bytes into this one.
    pub fn sub(&self, offset: usize, len: usize) -> Span {
        let start = (self.start + offset).min(self.end());
        Span::new(start, len.min(self.end() - start))
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is still usable.
    Warning,
    /// The file is rejected.
    Error,
}

/// A marked region with a short explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// What is marked.
    pub span: Span,
    /// What the mark means, shown under it.
    pub text: String,
}

/// One problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable machine-readable code, e.g. `dstack::config::unknown_field`.
    pub code: std::borrow::Cow<'static, str>,
    /// Error or warning.
    pub severity: Severity,
    /// One-line summary, lowercase, no trailing period.
    pub message: String,
    /// The offending token, if the problem has a place.
    pub label: Option<Label>,
    /// Other places involved (the first definition of a duplicate, say).
    pub related: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a message and no place yet.
    pub fn error(
        code: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.into(),
            severity: Severity::Error,
            message: message.into(),
            label: None,
            related: Vec::new(),
            help: None,
        }
    }

    /// A warning with a message and no place yet.
    pub fn warning(
        code: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Marks the offending token.
    pub fn at(mut self, span: Span, text: impl Into<String>) -> Self {
        self.label = Some(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds another marked place.
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Self {
        self.related.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds advice.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A source file's name and text, with a line index for positions.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    /// Indexes `text` under the display name `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text: String = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect::<Vec<_>>();
        Self {
            name: Arc::from(name.into()),
            text: Arc::from(text),
            line_starts: Arc::from(line_starts),
        }
    }

    /// The display name (usually a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let line_start = self.line_starts[line];
        let col = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// The byte offset of a 1-based line and column (in characters).
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let Some(&line_start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[line_start..];
        rest.char_indices()
            .nth(col.saturating_sub(1))
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }

    /// The text under a span (empty if the span is out of range).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end()).unwrap_or("")
    }
}

/// A diagnostic bound to its file, ready for `miette` to render.
#[derive(Debug, Clone)]
pub struct FileReport {
    file: SourceFile,
    diag: Diagnostic,
}

impl FileReport {
    /// Binds a diagnostic to the file its spans point into.
    pub fn new(file: SourceFile, diag: Diagnostic) -> Self {
        Self { file, diag }
    }

    /// The diagnostic.
    pub fn diagnostic(&self) -> &Diagnostic {
        &self.diag
    }

    /// `path:line:col` of the primary label, or just the path.
    pub fn location(&self) -> String {
        match &self.diag.label {
            Some(label) => {
                let (line, col) = self.file.line_col(label.span.start);
                format!("{}:{line}:{col}", self.file.name())
            }
            None => self.file.name().to_string(),
        }
    }

    /// A JSON-friendly view with line and column numbers resolved.
    pub fn to_json(&self) -> serde_json::Value {
        let place = |label: &Label| {
            let (line, column) = self.file.line_col(label.span.start);
            serde_json::json!({
                "line": line,
                "column": column,
                "offset": label.span.start,
                "length": label.span.len,
                "text": label.text,
            })
        };
        serde_json::json!({
            "file": self.file.name(),
            "code": self.diag.code,
            "severity": self.diag.severity,
            "message": self.diag.message,
            "label": self.diag.label.as_ref().map(place),
            "related": self.diag.related.iter().map(place).collect::<Vec<_>>(),
            "help": self.diag.help,
        })
    }
}

impl fmt::Display for FileReport {
    /// The message; prefixed with the file when there is no snippet to show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.diag.label {
            Some(_) => f.write_str(&self.diag.message),
            None => write!(f, "{}: {}", self.location(), self.diag.message),
        }
    }
}

impl std::error::Error for FileReport {}

impl miette::Diagnostic for FileReport {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diag
            .label
            .as_ref()
            .map(|_| self as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = self.diag.label.iter().map(|l| {
            miette::LabeledSpan::new_primary_with_span(
                Some(l.text.clone()),
                clamp(&self.file, l.span),
            )
        });
        let related = self.diag.related.iter().map(|l| {
            miette::LabeledSpan::new_with_span(Some(l.text.clone()), clamp(&self.file, l.span))
        });
        Some(Box::new(primary.chain(related)))
    }
}

fn clamp(file: &SourceFile, span: Span) -> miette::SourceSpan {
    let len = file.text().len();
    let start = span.start.min(len);
    (start, span.len.min(len - start)).into()
}

impl miette::SourceCode for FileReport {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self
            .file
            .text()
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.name().to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let file = SourceFile::new("a.yml", "ab\nçd: x\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        assert_eq!(file.line_col(5), (2, 2)); // after the two-byte ç
        assert_eq!(file.offset_of(2, 2), 5);
    }

    #[test]
    fn report_location_names_file_line_and_column() {
        let file = SourceFile::new("x.yml", "type: task\nname: A\n");
        let diag = Diagnostic::error("t", "bad name").at(Span::new(17, 1), "here");
        assert_eq!(FileReport::new(file, diag).location(), "x.yml:2:7");
    }
}
