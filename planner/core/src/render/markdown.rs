//! The plan as a pull-request comment: a one-line verdict, a table of
//! changes with their reasons and prices, money, and the full text plan
//! folded away.

use dstack_schemas::plan::ChangeVerb;
use std::fmt::Write;

use dstack_schemas::plan::PlanDoc;

use super::text::{Style, render_plan};

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the plan as GitHub-flavoured Markdown.
pub fn render_markdown(plan: &PlanDoc) -> String {
    let mut out = String::new();
    let s = &plan.summary;
    let verdict = if plan.errored {
        "❌ **Plan failed**"
    } else if plan.has_changes {
        "📝 **Plan**"
    } else {
        "✅ **No changes**"
    };
    let _ = writeln!(
        out,
        "{verdict}: {} to add, {} to change, {} to replace, {} to destroy — {} → {} per hour\n",
        s.add, s.change, s.replace, s.destroy, plan.cost.hourly_before, plan.cost.hourly_after
    );
    let errors: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == "error")
        .collect();
    for d in &errors {
        let place = d.location.as_ref().map_or(String::new(), |l| {
            format!(" (`{}:{}:{}`)", l.file, l.line, l.column)
        });
        let _ = writeln!(out, "- ❌ {}{place}", escape(&d.message));
    }
    if !errors.is_empty() {
        out.push('\n');
    }
    let changes: Vec<_> = plan.effective_changes().collect();
    if !changes.is_empty() {
        let _ = writeln!(out, "| | Resource | Why | Offer | $/h before | $/h after |");
        let _ = writeln!(out, "|---|---|---|---|---:|---:|");
        for c in changes {
            let sym = match c.verb() {
                ChangeVerb::Create => "➕",
                ChangeVerb::Update => "🔄",
                ChangeVerb::Replace => "♻️",
                ChangeVerb::Delete => "➖",
                _ => "",
            };
            let offer = c.offer.as_ref().map_or(String::new(), |o| {
                format!("{} {} {}", o.backend, o.region, o.instance_type)
            });
            let rate = |r: Option<dstack_schemas::money::HourlyRate>| {
                r.map_or("-".to_string(), |r| r.0.short())
            };
            let _ = writeln!(
                out,
                "| {sym} | `{}` | {} | {} | {} | {} |",
                c.address,
                escape(c.reason.as_deref().unwrap_or(c.verb().as_str())),
                escape(&offer),
                rate(c.rate_before),
                rate(if c.verb() == ChangeVerb::Delete {
                    None
                } else {
                    c.rate_after
                })
            );
        }
        out.push('\n');
    }
    if !plan.orphans.is_empty() {
        let _ = writeln!(
            out,
            "⚠️ {} resource(s) tagged as ours are not in state (ghost spend).\n",
            plan.orphans.len()
        );
    }
    let _ = writeln!(
        out,
        "<details><summary>Full plan</summary>\n\n```diff\n{}```\n</details>",
        render_plan(plan, Style::new(false))
    );
    out
}
