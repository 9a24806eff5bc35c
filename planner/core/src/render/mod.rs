//! The only place that formats plans: text for terminals and CI logs,
//! Markdown for pull-request comments, JSON for programs.

pub mod markdown;
pub mod text;

use dstack_schemas::plan::PlanDoc;

/// The plan as pretty JSON (the versioned plan document).
pub fn render_json(plan: &PlanDoc) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
