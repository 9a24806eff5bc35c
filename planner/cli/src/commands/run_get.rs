//! Runs in detail: `dstack run get NAME [--json]`, `dstack ps -v` and
//! `ps --json`. Each job with its instance (backend, region, resources,
//! price), ports, exit code, reason and every submission.

use dstack_planner::desired::LOCAL_FLEET;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::inspect::{
    INSPECT_FORMAT_VERSION, JobView, RunDoc, RunListDoc, RunView, SubmissionView,
};
use dstack_state::StateStore;

use super::jobs::{self, age, table};
use super::resource_views::offer_resources;
use super::resources::print_json;
use crate::context::ProjectOptions;
use crate::error::CliError;

/// What a job's instance is, as recorded.
#[derive(Default)]
struct InstanceFacts {
    backend: Option<String>,
    region: Option<String>,
    resources: Option<String>,
    price: Option<f64>,
}

fn instance_facts(state: &dyn StateStore, instance: Option<&str>) -> InstanceFacts {
    let Some(addr) = instance.and_then(|i| i.parse::<ResourceAddr>().ok()) else {
        return InstanceFacts::default();
    };
    if addr.name() == LOCAL_FLEET {
        return InstanceFacts {
            backend: Some("local".into()),
            region: Some("local".into()),
            resources: Some("this machine".into()),
            price: Some(0.0),
        };
    }
    let Ok(Some(row)) = state.get(&addr) else {
        return InstanceFacts::default();
    };
    let offer = row.offer.clone().unwrap_or_default();
    InstanceFacts {
        backend: row.provider.clone(),
        region: offer
            .get("region")
            .and_then(|r| r.as_str())
            .map(String::from),
        resources: offer_resources(&offer),
        price: row.price_per_hour.map(|p| p.as_dollars_f64()),
    }
}

/// A job's submissions as its logs record them; a job whose runtime keeps
/// no log (the fake one) has the one its row records.
fn submissions(state: &dyn StateStore, job: &str) -> Vec<SubmissionView> {
    let logged: Vec<SubmissionView> = state
        .submissions(job)
        .unwrap_or_default()
        .into_iter()
        .map(|s| SubmissionView {
            number: s.number,
            id: s.id,
            instance: s.instance,
            submitted_at: s.recorded_at,
            log_complete: s.sealed,
        })
        .collect();
    if !logged.is_empty() {
        return logged;
    }
    let row = job
        .parse::<ResourceAddr>()
        .ok()
        .and_then(|a| state.get(&a).ok().flatten());
    let Some((row, id)) = row.and_then(|r| r.provider_id.clone().map(|id| (r, id))) else {
        return Vec::new();
    };
    let data = row.job_data();
    vec![SubmissionView {
        number: data.submission.unwrap_or(0),
        id,
        instance: data.instance,
        submitted_at: data.runtime.submitted_at.unwrap_or(row.created_at),
        log_complete: false,
    }]
}

fn job_detail(state: &dyn StateStore, job: &jobs::JobView) -> JobView {
    let facts = instance_facts(state, job.instance.as_deref());
    JobView {
        address: job.address.clone(),
        status: job.status.to_string(),
        status_message: job.status_message.clone(),
        exit_code: job.exit_code,
        reason: job.reason.clone(),
        message: job.message.clone(),
        instance: job.instance.clone(),
        backend: facts.backend,
        region: facts.region,
        resources: facts.resources,
        price_per_hour: facts.price,
        ports: job.ports.clone(),
        submissions: submissions(state, &job.address),
    }
}

/// A run of `ps` in full.
pub fn detail(state: &dyn StateStore, run: &jobs::RunView) -> RunView {
    RunView {
        name: run.name.clone(),
        kind: run.kind.clone(),
        status: run.status.to_string(),
        status_message: run.status_message.clone(),
        reason: run.jobs.iter().find_map(|j| j.reason.clone()),
        backend: run.backend.clone(),
        price_per_hour: run.price_per_hour,
        submitted_at: run.submitted_at,
        jobs: run.jobs.iter().map(|j| job_detail(state, j)).collect(),
    }
}

/// `ps --json`.
pub fn ps_json(state: &dyn StateStore, runs: &[jobs::RunView]) -> Result<(), CliError> {
    print_json(&RunListDoc {
        format_version: INSPECT_FORMAT_VERSION.into(),
        runs: runs.iter().map(|r| detail(state, r)).collect(),
    })
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn price(p: Option<f64>) -> String {
    p.map_or("-".into(), |p| format!("${p:.4}"))
}

/// `ps -v`: a row per job with where it ran and why it ended.
pub fn render_verbose(state: &dyn StateStore, runs: &[jobs::RunView]) -> String {
    let mut rows = vec![
        [
            "NAME",
            "TYPE",
            "INSTANCE",
            "RESOURCES",
            "BACKEND",
            "REGION",
            "PRICE",
            "SUBM",
            "STATUS",
            "SUBMITTED",
            "REASON",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for run in runs {
        let d = detail(state, run);
        rows.push(vec![
            d.name.clone(),
            d.kind.clone(),
            String::new(),
            String::new(),
            d.backend.clone(),
            String::new(),
            price(d.price_per_hour),
            String::new(),
            d.status_message.clone(),
            age(d.submitted_at),
            dash(&d.reason),
        ]);
        for j in &d.jobs {
            rows.push(job_row(j));
        }
    }
    table(&rows)
}

fn job_row(j: &JobView) -> Vec<String> {
    let reason = match (&j.reason, &j.message) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(r), None) => r.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "-".into(),
    };
    vec![
        format!("  {}", j.address),
        String::new(),
        dash(&j.instance),
        dash(&j.resources),
        dash(&j.backend),
        dash(&j.region),
        price(j.price_per_hour),
        j.submissions.len().to_string(),
        j.status_message.clone(),
        String::new(),
        reason,
    ]
}

/// Words in a variable name that mark its value as a secret.
const SECRET_WORDS: &[&str] = &[
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// `NAME=VALUE` with VALUE hidden when the name looks secret and the value
/// is written literally (a `${{ secrets.X }}` reference holds no secret).
fn redact_env_entry(name: &str, value: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let secret = SECRET_WORDS.iter().any(|w| upper.contains(w));
    (secret && !value.contains("${{")).then(|| "***".to_string())
}

/// The spec with registry passwords and literal secret-looking values hidden.
pub fn redact(mut spec: serde_json::Value) -> serde_json::Value {
    if let Some(auth) = spec
        .get_mut("registry_auth")
        .and_then(|a| a.as_object_mut())
        && auth.contains_key("password")
    {
        auth.insert("password".into(), "***".into());
    }
    match spec.get_mut("env") {
        Some(serde_json::Value::Array(items)) => {
            for item in items {
                let Some((name, value)) = item.as_str().and_then(|s| s.split_once('=')) else {
                    continue;
                };
                if let Some(hidden) = redact_env_entry(name, value) {
                    *item = format!("{name}={hidden}").into();
                }
            }
        }
        Some(serde_json::Value::Object(map)) => {
            for (name, value) in map.iter_mut() {
                let text = value.as_str().unwrap_or_default().to_string();
                if let Some(hidden) = redact_env_entry(name, &text) {
                    *value = hidden.into();
                }
            }
        }
        _ => {}
    }
    spec
}

/// `dstack run get NAME [--json]`.
pub fn run_get(options: &ProjectOptions, name: &str, json: bool) -> Result<i32, CliError> {
    let (project, runtime, rt) = jobs::open(options)?;
    jobs::sync_quietly(&project, runtime.as_ref(), &rt);
    let state = project.state.as_ref();
    let mut all = jobs::run_views(state)?;
    all.extend(super::workflows::run_views(state)?);
    let run = all.iter().find(|r| r.name == name).ok_or_else(|| {
        CliError::Usage(format!(
            "there is no run named {name}; `dstack ps -a` lists runs \
             (to run a workflow named `get`, type `dstack run get` alone)"
        ))
    })?;
    let spec = state
        .get(&ResourceAddr::Run(name.into()))?
        .map_or(serde_json::Value::Null, |r| redact(r.spec));
    let doc = RunDoc {
        format_version: INSPECT_FORMAT_VERSION.into(),
        run: detail(state, run),
        spec,
    };
    if json {
        print_json(&doc)?;
    } else {
        out!("{}", render_run(&doc))?;
    }
    Ok(0)
}

fn render_run(doc: &RunDoc) -> String {
    let r = &doc.run;
    let mut out = format!(
        "run {} ({})\n  status:    {}{}\n  backend:   {}\n  price:     {}\n  submitted: {}\n",
        r.name,
        r.kind,
        r.status_message,
        r.reason
            .as_ref()
            .map_or(String::new(), |x| format!(" (reason: {x})")),
        r.backend,
        price(r.price_per_hour),
        age(r.submitted_at)
    );
    for j in &r.jobs {
        out.push_str(&format!(
            "\n{}: {}\n  instance:  {} ({}, {}, {}, {})\n  exit code: {}\n",
            j.address,
            j.status_message,
            dash(&j.instance),
            dash(&j.backend),
            dash(&j.region),
            dash(&j.resources),
            price(j.price_per_hour),
            j.exit_code.map_or("-".into(), |c| c.to_string()),
        ));
        if let Some(reason) = &j.reason {
            out.push_str(&format!("  reason:    {reason}\n"));
        }
        if let Some(message) = &j.message {
            out.push_str(&format!("  message:   {message}\n"));
        }
        if j.ports.as_array().is_some_and(|p| !p.is_empty()) {
            out.push_str(&format!("  ports:     {}\n", j.ports));
        }
        for s in &j.submissions {
            out.push_str(&format!(
                "  submission {}: {} on {} ({})\n",
                s.number,
                s.id,
                dash(&s.instance),
                age(s.submitted_at)
            ));
        }
    }
    if !doc.spec.is_null() {
        let spec = serde_json::to_string_pretty(&doc.spec).unwrap_or_default();
        out.push_str(&format!("\nspec (secrets redacted):\n{spec}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;
    use serde_json::json;

    #[test]
    fn registry_passwords_and_literal_secret_values_are_hidden() {
        let spec = json!({
            "registry_auth": {"username": "me", "password": "hunter2"},
            "env": ["HF_TOKEN=hf_abc", "DB_PASSWORD=${{ secrets.DB }}", "MODE=fast", "NO_VALUE"],
        });
        assert_eq!(
            redact(spec),
            json!({
                "registry_auth": {"username": "me", "password": "***"},
                "env": ["HF_TOKEN=***", "DB_PASSWORD=${{ secrets.DB }}", "MODE=fast", "NO_VALUE"],
            })
        );
        let map = json!({"env": {"AWS_SECRET_ACCESS_KEY": "abc", "PORT": "80"}});
        assert_eq!(
            redact(map),
            json!({"env": {"AWS_SECRET_ACCESS_KEY": "***", "PORT": "80"}})
        );
    }
}
