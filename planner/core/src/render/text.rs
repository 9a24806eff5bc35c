//! The plan as people read it in a terminal or a CI log, Terraform-style:
//! `+` create, `~` update in place, `-/+` / `+/-` replace (with the order),
//! `-` delete, every changed field with what forces a replacement, the
//! offer and $/h of each machine, and the money totals.

use dstack_schemas::plan::{ActionReason, ChangeVerb};
use std::fmt::Write;

use dstack_schemas::addr::ResourceKind;
use dstack_schemas::money::Usd;
use dstack_schemas::plan::{ActionWord, FieldChange, PlanDoc, PlanOperation, ResourceChange};
use serde_json::Value;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colours on or off.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }

    fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }

    fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }

    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }

    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

fn symbol(change: &ResourceChange) -> &'static str {
    match change.actions.as_slice() {
        [ActionWord::Create] => "+",
        [ActionWord::Update] => "~",
        [ActionWord::Delete] => "-",
        [ActionWord::Delete, ActionWord::Create] => "-/+",
        [ActionWord::Create, ActionWord::Delete] => "+/-",
        _ => " ",
    }
}

fn paint_symbol(style: Style, change: &ResourceChange) -> String {
    let s = format!("{:>3}", symbol(change));
    match change.verb() {
        ChangeVerb::Create => style.green(&s),
        ChangeVerb::Update => style.yellow(&s),
        ChangeVerb::Delete => style.red(&s),
        ChangeVerb::Replace => style.yellow(&s),
        _ => s,
    }
}

fn headline(change: &ResourceChange) -> String {
    let what = match change.actions.as_slice() {
        [ActionWord::Create] => "will be created".to_string(),
        [ActionWord::Update] => "will be updated in place".to_string(),
        [ActionWord::Delete] => "will be deleted".to_string(),
        [ActionWord::Delete, ActionWord::Create] => {
            "must be replaced (deleted, then created)".to_string()
        }
        [ActionWord::Create, ActionWord::Delete] => {
            "must be replaced (new one created before the old is deleted)".to_string()
        }
        _ => "is unchanged".to_string(),
    };
    match &change.reason {
        Some(reason) => format!("# {} {what}: {reason}", change.address),
        None => format!("# {} {what}", change.address),
    }
}

/// One-line rendering of a JSON value.
fn compact(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(s) if s.contains('\n') => format!("{:?}", s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn multi_line(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items)
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.len() > 40 || s.contains('\n')))
                || items.len() > 1 =>
        {
            Some(items.iter().flat_map(compact_lines).collect())
        }
        Value::String(s) if s.contains('\n') => Some(s.lines().map(str::to_string).collect()),
        _ => None,
    }
}

fn compact_lines(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s.lines().map(str::to_string).collect(),
        other => vec![compact(other)],
    }
}

/// A changed field: `~ path: before -> after`, or a line diff for long lists.
fn render_field(out: &mut String, style: Style, field: &FieldChange) {
    let marker = if field.forces_replacement {
        style.red("  # forces replacement")
    } else {
        String::new()
    };
    let note = field
        .note
        .as_deref()
        .filter(|_| field.forces_replacement)
        .map_or(String::new(), |n| style.dim(&format!(" ({n})")));
    match (multi_line(&field.before), multi_line(&field.after)) {
        (None, None) => {
            let sym = match (&field.before, &field.after) {
                (Value::Null, _) => style.green("+"),
                (_, Value::Null) => style.red("-"),
                _ => style.yellow("~"),
            };
            let _ = writeln!(
                out,
                "      {sym} {}: {} -> {}{marker}{note}",
                field.path,
                compact(&field.before),
                compact(&field.after)
            );
        }
        (before, after) => {
            let _ = writeln!(
                out,
                "      {} {}:{marker}{note}",
                style.yellow("~"),
                field.path
            );
            let before = before.unwrap_or_else(|| compact_lines(&field.before));
            let after = after.unwrap_or_else(|| compact_lines(&field.after));
            let (b, a) = (before.join("\n") + "\n", after.join("\n") + "\n");
            let diff = similar::TextDiff::from_lines(&b, &a);
            for change in diff.iter_all_changes() {
                let line = change.value().trim_end_matches('\n');
                let text = match change.tag() {
                    similar::ChangeTag::Delete => style.red(&format!("          - {line}")),
                    similar::ChangeTag::Insert => style.green(&format!("          + {line}")),
                    similar::ChangeTag::Equal => style.dim(&format!("            {line}")),
                };
                let _ = writeln!(out, "{text}");
            }
        }
    }
}

/// A value on one line: scalars as is, lists of scalars as `[a, b]`.
fn inline(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let parts: Vec<String> = items.iter().map(compact).collect();
            let line = format!("[{}]", parts.join(", "));
            (line.len() <= 80 && !parts.iter().any(|p| p.contains('\n') || p.starts_with('"')))
                .then_some(line)
        }
        Value::Object(map) if map.is_empty() => Some("{}".into()),
        Value::Array(items) if items.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        Value::String(s) if s.contains('\n') => None,
        other => Some(compact(other)),
    }
}

/// A spec as indented `key: value` lines (nested mappings indented).
fn render_value(out: &mut String, key: &str, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    if let Some(line) = inline(value) {
        let _ = writeln!(out, "{pad}{key}: {line}");
        return;
    }
    let _ = writeln!(out, "{pad}{key}:");
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                render_value(out, k, v, indent + 2);
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => {
                        let mut lines = s.lines();
                        if let Some(first) = lines.next() {
                            let _ = writeln!(out, "{pad}  - {first}");
                        }
                        for l in lines {
                            let _ = writeln!(out, "{pad}    {l}");
                        }
                    }
                    other => {
                        let _ = writeln!(
                            out,
                            "{pad}  - {}",
                            inline(other).unwrap_or_else(|| other.to_string())
                        );
                    }
                }
            }
        }
        Value::String(s) => {
            for l in s.lines() {
                let _ = writeln!(out, "{pad}  {l}");
            }
        }
        other => {
            let _ = writeln!(out, "{pad}  {}", compact(other));
        }
    }
}

/// The attributes of a new resource, one per line (its name is in the address).
fn render_attributes(out: &mut String, spec: &Value) {
    let Some(obj) = spec.as_object() else { return };
    for (key, value) in obj {
        if key == "name" || (key == "type" && obj.len() > 1) {
            continue;
        }
        render_value(out, key, value, 8);
    }
}

fn offer_line(change: &ResourceChange) -> Option<String> {
    let offer = change.offer.as_ref()?;
    let matched = change
        .offers_matched
        .map_or(String::new(), |n| format!(", cheapest of {n} matching"));
    Some(format!(
        "        offer: {} ({}) {} {} {}{matched}",
        offer.backend,
        offer.region,
        offer.instance_type,
        offer.resources(),
        offer.price
    ))
}

fn render_change(out: &mut String, style: Style, change: &ResourceChange) {
    let _ = writeln!(out, "  {}", style.dim(&headline(change)));
    let mut title = format!(
        "{} {}",
        paint_symbol(style, change),
        style.bold(&change.address.to_string())
    );
    if let Some(p) = &change.placement
        && change.kind == ResourceKind::Job
    {
        title.push_str(&format!(" on {p}"));
    }
    let _ = writeln!(out, "{title}");
    if let Some(line) = offer_line(change)
        && change.actions.contains(&ActionWord::Create)
    {
        let _ = writeln!(out, "{line}");
    }
    if let Some(rate) = change
        .rate_after
        .filter(|_| change.actions.contains(&ActionWord::Create) && change.offer.is_none())
        && rate.0 > Usd::ZERO
    {
        let _ = writeln!(out, "        price: {rate}");
    }
    match change.actions.as_slice() {
        [ActionWord::Create]
            if change.kind != ResourceKind::Job && change.kind != ResourceKind::Instance =>
        {
            if let Some(after) = &change.after {
                render_attributes(out, after);
            }
        }
        [ActionWord::Update]
        | [ActionWord::Delete, ActionWord::Create]
        | [ActionWord::Create, ActionWord::Delete] => {
            for field in &change.changed_fields {
                render_field(out, style, field);
            }
        }
        _ => {}
    }
    if change.actions == [ActionWord::Delete]
        && let Some(offer) = &change.offer
    {
        let _ = writeln!(
            out,
            "        was: {} ({}) {} {}",
            offer.backend, offer.region, offer.instance_type, offer.price
        );
    }
    if let Some(life) = &change.lifetime {
        let range = if life.min == life.max {
            format!("{}", life.min)
        } else {
            format!("{} to {}", life.min, life.max)
        };
        let _ = writeln!(out, "        cost over its life: {range} ({})", life.basis);
    }
    out.push('\n');
}

/// Renders the plan. No-ops are counted, not listed.
pub fn render_plan(plan: &PlanDoc, style: Style) -> String {
    let mut out = String::new();
    render_drift(&mut out, style, plan);
    render_orphans(&mut out, style, plan);
    render_overrides(&mut out, style, plan);
    let changes: Vec<&ResourceChange> = plan.effective_changes().collect();
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.green("No changes. The infrastructure matches the configuration.")
        );
    } else {
        render_legend(&mut out, style, &changes);
        let _ = writeln!(out, "dstack will perform the following actions:\n");
        for change in &changes {
            render_change(&mut out, style, change);
        }
    }
    let retained: Vec<&ResourceChange> = plan
        .resource_changes
        .iter()
        .filter(|c| c.action_reason == Some(ActionReason::RetainVolume))
        .collect();
    for change in retained {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            style.dim("#"),
            change.address,
            change.reason.as_deref().unwrap_or("")
        );
    }
    render_summary(&mut out, style, plan);
    out
}

/// Fields the command line set, each with its flag.
fn render_overrides(out: &mut String, style: Style, plan: &PlanDoc) {
    if plan.overrides.is_empty() {
        return;
    }
    let _ = writeln!(out, "Set from the command line:");
    for o in &plan.overrides {
        let value = match &o.value {
            serde_json::Value::Null => "(inherited from the environment)".to_string(),
            v => v.to_string(),
        };
        let _ = writeln!(
            out,
            "  {} {}: {} = {} {}",
            style.yellow("~"),
            o.address,
            o.field,
            value,
            style.dim(&format!("({}, {})", o.flag, o.reason))
        );
    }
    out.push('\n');
}

fn render_legend(out: &mut String, style: Style, changes: &[&ResourceChange]) {
    let _ = writeln!(
        out,
        "Resource actions are indicated with the following symbols:"
    );
    let has = |s: &str| changes.iter().any(|c| symbol(c) == s);
    for (sym, text) in [
        ("+", "create"),
        ("~", "update in place"),
        ("-", "delete"),
        ("-/+", "delete and then create replacement"),
        ("+/-", "create replacement and then delete"),
    ] {
        if has(sym) {
            let painted = match sym {
                "+" => style.green(&format!("{sym:>3}")),
                "-" => style.red(&format!("{sym:>3}")),
                _ => style.yellow(&format!("{sym:>3}")),
            };
            let _ = writeln!(out, "{painted} {text}");
        }
    }
    out.push('\n');
}

fn render_drift(out: &mut String, style: Style, plan: &PlanDoc) {
    if plan.resource_drift.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        style.bold("Objects have changed outside of dstack:")
    );
    for d in &plan.resource_drift {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            style.yellow("!"),
            d.address,
            d.drift,
            d.detail
        );
    }
    out.push('\n');
}

fn render_orphans(out: &mut String, style: Style, plan: &PlanDoc) {
    if plan.orphans.is_empty() {
        return;
    }
    let ghost = plan
        .cost
        .ghost_hourly
        .map_or(String::new(), |g| format!(", ghost spend {g}"));
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "Resources tagged as dstack's that state does not know{ghost}:"
        ))
    );
    for o in &plan.orphans {
        let rate = o.rate.map_or(String::new(), |r| format!(" {r}"));
        let address = o
            .address
            .as_deref()
            .map_or(String::new(), |a| format!(" (was {a})"));
        let _ = writeln!(
            out,
            "  {} {} {} {}{address}{rate}: {}",
            style.red("?"),
            o.provider,
            o.kind,
            o.provider_id,
            o.reason
        );
    }
    let _ = writeln!(out, "  Remove them with `dstack destroy --orphans`.\n");
}

fn signed(usd: Usd) -> String {
    if usd.micros() >= 0 {
        format!("+{}", usd.short())
    } else {
        format!("-{}", Usd::from_micros(-usd.micros()).short())
    }
}

fn render_summary(out: &mut String, style: Style, plan: &PlanDoc) {
    let s = &plan.summary;
    let verb = if plan.operation == PlanOperation::Destroy {
        "Destroy plan"
    } else {
        "Plan"
    };
    let _ = writeln!(
        out,
        "{}: {} to add, {} to change, {} to replace, {} to destroy.",
        style.bold(verb),
        s.add,
        s.change,
        s.replace,
        s.destroy
    );
    let c = &plan.cost;
    let _ = writeln!(
        out,
        "{}: {} now -> {} after ({}/h)",
        style.bold("Cost"),
        c.hourly_before,
        c.hourly_after,
        signed(c.hourly_delta)
    );
    if let Some(life) = &c.lifetime {
        let _ = writeln!(
            out,
            "      runs with max_duration: {} to {} over their lives",
            life.min, life.max
        );
    }
    if !c.unbounded.is_empty() {
        let names: Vec<String> = c.unbounded.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "      no max_duration (billed until stopped): {}",
            names.join(", ")
        );
    }
    let errors = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == "error")
        .count();
    if errors > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.red(&format!(
                "The plan has {errors} error(s) and cannot be applied."
            ))
        );
    }
}
