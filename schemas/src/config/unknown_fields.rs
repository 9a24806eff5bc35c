//! Unknown keys in a mapping: the "did you mean" suggestion, the hint for a
//! key that belongs elsewhere, and the diagnostic that carries them.

use super::type_words::TYPES;
use crate::diag::Diagnostic;
use crate::yaml::Entry;

/// The closest candidate to a misspelt key, if close enough.
pub fn did_you_mean<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(key, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Keys that are valid somewhere else: where they belong.
fn misplaced(what: &str, key: &str) -> Option<String> {
    let runs = ["task", "service", "dev-environment"];
    Some(match key {
        "gpu" | "cpu" | "memory" | "disk" | "shm_size" if runs.contains(&what) || what == "fleet" => {
            format!("`{key}` belongs under `resources:`")
        }
        "router" if what == "service" => {
            "`router` belongs to a replica group: `replicas: [{count: 1, router: {type: sglang}}, ...]`".into()
        }
        "router" if what == "gateway" => "gateways have no router; set `router` on a service replica group".into(),
        "provider" | "deps" | "depends-on" | "artifacts" | "python_script" if runs.contains(&what) => format!(
            "`{key}` is a 2022 workflow field; in `type: task` use `image:`/`python:` and `commands:` (2022 workflows go in .dstack/workflows.yaml)"
        ),
        "port" if what == "task" || what == "dev-environment" => "tasks and dev environments use `ports:` (a list)".into(),
        "ports" if what == "service" => "a service has one `port:`".into(),
        "max_duration" | "stop_duration" | "creation_policy" | "utilization_policy" | "schedule" | "startup_order"
        | "stop_criteria" | "fleets" | "instances"
            if what == "fleet" =>
        {
            format!("`{key}` applies to runs (task, service, dev-environment), not fleets")
        }
        "resources" if what == "volume" => "volumes have `size:` instead of `resources:`".into(),
        "workflows" | "variables" => format!("`{key}:` belongs in .dstack/{key}.yaml, a 2022-format file without `type:`"),
        _ => return None,
    })
}

/// The diagnostic for `entry`, a key not in `allowed`, in the mapping `what`.
pub(crate) fn unknown_field(what: &str, entry: &Entry, allowed: &[&str]) -> Diagnostic {
    let mut diag = Diagnostic::error(
        "dstack::config::unknown_field",
        format!("unknown field `{}` in {what}", entry.key),
    );
    if let Some(hint) = misplaced(what, &entry.key) {
        return diag.at(entry.key_span, "not allowed here").help(hint);
    }
    match did_you_mean(&entry.key, allowed.iter().copied()) {
        Some(best) => {
            diag = diag
                .at(entry.key_span, format!("did you mean `{best}`?"))
                .help(format!("replace `{}` with `{best}`", entry.key));
        }
        None if allowed.len() <= 12 => {
            diag = diag
                .at(entry.key_span, "unknown field")
                .help(format!("{what} fields are: {}", allowed.join(", ")));
        }
        None => {
            let schema = if TYPES.contains(&what) {
                what
            } else {
                "configuration"
            };
            diag = diag
                .at(entry.key_span, "unknown field")
                .help(format!("see `dstack schema {schema}` for every field"));
        }
    }
    diag
}
