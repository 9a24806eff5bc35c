//! Rendering diagnostics for people (miette, colour only on a terminal and
//! without `NO_COLOR`) and for programs (JSON).

use std::io::IsTerminal;

use dstack_schemas::diag::{Diagnostic, FileReport, SourceFile};
use miette::{GraphicalReportHandler, GraphicalTheme};

/// True when stderr is a colour terminal and `NO_COLOR` is unset.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Renders one diagnostic as text: the snippet with labels, and help.
pub fn diagnostic_text(file: &SourceFile, diag: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let report = FileReport::new(file.clone(), diag.clone());
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{report}\n");
    }
    out
}
