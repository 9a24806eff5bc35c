//! One 2022 workflow as a runner job: the command its provider means
//! (`bash`: the commands; `python`: the script; `docker`: the image with
//! or without commands), its env, artifacts and limits; and the hash of
//! its inputs, which decides whether an earlier result can be reused.

use std::collections::BTreeMap;

use dstack_runner::api::{ArchiveMount, ExecutorKind, JobSubmission, Limits};
use dstack_schemas::config::Workflow;
use dstack_schemas::grammar::EnvValue;
use sha2::Digest;

use crate::runtime::submission::{
    LocalMode, SubmissionBase, assemble, join_commands, pick_executor,
};
use crate::runtime::submission_error::SubmissionError;
use crate::runtime::submission_error::SubmissionErrorKind::{NothingToRun, Provider, UnsetValue};

/// What a workflow's job is built with besides the workflow.
pub struct JobContext<'a> {
    /// Run name.
    pub run: &'a str,
    /// Submission token.
    pub token: String,
    /// How local jobs run.
    pub mode: LocalMode,
    /// The repo archive.
    pub code: Option<String>,
    /// Deps' artifacts, unpacked into the working directory.
    pub inputs: Vec<ArchiveMount>,
    /// The environment of `dstack run` (for inherited variables).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether `/bin/bash` exists on the host.
    pub host_has_bash: bool,
    /// When Docker pulls images.
    pub pull_policy: dstack_runner::api::PullPolicy,
}

fn commands_of(w: &Workflow) -> Result<Vec<String>, SubmissionError> {
    let rendered = w
        .commands
        .iter()
        .flatten()
        .map(|t| {
            t.render(|_| None).map_err(|var| {
                SubmissionError::new(UnsetValue, format!(
                    "workflow `{}` uses `${{{{ {} }}}}`, which has no value; define it in .dstack/variables.yaml or pass `--var {}=VALUE`",
                    w.name,
                    var.path(),
                    if var.name.is_empty() { &var.namespace } else { &var.name }
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let provider = w.provider.as_deref().unwrap_or("bash");
    match provider {
        "bash" | "docker" => Ok(rendered),
        "python" => {
            let mut out = Vec::new();
            if let Some(req) = &w.requirements {
                out.push(format!("pip install -q -r {req}"));
            }
            out.extend(rendered);
            if let Some(script) = &w.script {
                out.push(format!("python3 {script}"));
            }
            Ok(out)
        }
        other => Err(SubmissionError::new(
            Provider,
            format!(
                "workflow `{}` uses the `{other}` provider, which `dstack run` does not support (only bash, python and docker); for interactive tools write a `type: dev-environment`",
                w.name
            ),
        )),
    }
}

/// The runner submission of a workflow's job.
pub fn submission(w: &Workflow, cx: &JobContext<'_>) -> Result<JobSubmission, SubmissionError> {
    let image = w.image.as_deref();
    if w.provider.as_deref() == Some("docker") && image.is_none() {
        return Err(SubmissionError::new(
            Provider,
            format!(
                "workflow `{}` uses the docker provider but names no `image`",
                w.name
            ),
        ));
    }
    let (executor, image) = pick_executor(cx.mode, true, image, &w.name)?;
    let commands = commands_of(w)?;
    let command = if commands.is_empty() {
        if executor == ExecutorKind::Process {
            return Err(SubmissionError::new(
                NothingToRun,
                format!("workflow `{}` has no commands to run", w.name),
            ));
        }
        Vec::new()
    } else {
        let shell = if executor == ExecutorKind::Process && cx.host_has_bash {
            "/bin/bash"
        } else {
            "/bin/sh"
        };
        vec![shell.into(), "-c".into(), join_commands(&commands)]
    };
    let env = workflow_env(w, cx)?;
    let resources = w.resources.clone().unwrap_or_default();
    let base = assemble(SubmissionBase {
        token: cx.token.clone(),
        run_name: cx.run.to_string(),
        job_name: format!("{}-{}", cx.run, w.name),
        executor,
        image,
        pull_policy: cx.pull_policy,
        command,
        env,
        working_dir: w.working_dir.clone(),
        code: cx.code.clone(),
        archives: cx.inputs.clone(),
        limits: Limits {
            cpus: None,
            memory_mb: None,
            shm_mb: resources.shm_size.map(|m| m.mb()),
            gpus: resources.gpu.and_then(|g| g.count.min).filter(|&n| n > 0),
        },
    });
    Ok(JobSubmission {
        artifacts: w
            .artifacts
            .iter()
            .flatten()
            .map(|a| a.path.trim_end_matches('/').to_string())
            .collect(),
        ..base
    })
}

/// A workflow job's environment: the run and workflow names, then the
/// workflow's `env` (inherited values from `dstack run`'s environment).
fn workflow_env(
    w: &Workflow,
    cx: &JobContext<'_>,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let mut env = BTreeMap::from([
        ("DSTACK_RUN_NAME".to_string(), cx.run.to_string()),
        ("DSTACK_WORKFLOW".to_string(), w.name.clone()),
    ]);
    for entry in &w.env.0 {
        let value = match &entry.value {
            EnvValue::Inherit => (cx.env)(&entry.name).ok_or_else(|| {
                SubmissionError::new(
                    UnsetValue,
                    format!(
                        "environment variable {} is not set (workflow `{}` inherits it)",
                        entry.name, w.name
                    ),
                )
            })?,
            EnvValue::Set(t) => t.render(|_| None).map_err(|var| {
                SubmissionError::new(
                    UnsetValue,
                    format!(
                        "workflow `{}`: env {} refers to `${{{{ {} }}}}`, which has no value",
                        w.name,
                        entry.name,
                        var.path()
                    ),
                )
            })?,
        };
        env.insert(entry.name.clone(), value);
    }
    Ok(env)
}

/// Hash of what a workflow's result depends on: the workflow as written
/// (after variables), its variables, the repo's contents, and each dep's
/// artifacts.
pub fn input_hash(
    w: &Workflow,
    variables: &BTreeMap<String, String>,
    repo_sha: &str,
    deps: &[(String, String)],
    executor: &str,
) -> String {
    let doc = serde_json::json!({
        "workflow": w,
        "variables": variables,
        "repo": repo_sha,
        "deps": deps,
        "executor": executor,
    });
    hex::encode(sha2::Sha256::digest(doc.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::config::{ConfigDocument, load_config};

    fn workflow(text: &str) -> Workflow {
        let loaded = load_config("w.yaml", text.as_bytes());
        match loaded.document {
            Some(ConfigDocument::Workflows(mut w)) => w.workflows.remove(0),
            _ => panic!("{:?}", loaded.diagnostics),
        }
    }

    fn cx(run: &str) -> JobContext<'_> {
        JobContext {
            run,
            token: "t".into(),
            mode: LocalMode::Auto,
            code: Some("c".repeat(64)),
            inputs: Vec::new(),
            env: &|_| None,
            host_has_bash: true,
            pull_policy: Default::default(),
        }
    }

    #[test]
    fn bash_and_python_providers_become_shell_commands() {
        let w = workflow(
            "workflows:\n  - name: a\n    commands: [echo 1, echo 2]\n    artifacts: [out/]\n",
        );
        let sub = submission(&w, &cx("a-1")).unwrap();
        assert_eq!(sub.executor, ExecutorKind::Process);
        assert_eq!(sub.command, ["/bin/bash", "-c", "echo 1 && echo 2"]);
        assert_eq!(sub.artifacts, ["out"]);
        let py = workflow(
            "workflows:\n  - name: p\n    provider: python\n    file: train.py\n    requirements: req.txt\n",
        );
        let sub = submission(&py, &cx("p-1")).unwrap();
        assert_eq!(
            sub.command[2],
            "pip install -q -r req.txt && python3 train.py"
        );
        let lab = workflow("workflows:\n  - name: l\n    provider: lab\n");
        let err = submission(&lab, &cx("l-1")).unwrap_err();
        assert_eq!(err.kind, Provider);
        assert!(err.message.contains("does not support"), "{err}");
    }

    #[test]
    fn unresolved_variables_say_how_to_set_them() {
        let w = workflow("workflows:\n  - name: a\n    commands: [\"echo ${{ rows }}\"]\n");
        let err = submission(&w, &cx("a-1")).unwrap_err();
        assert_eq!(err.kind, UnsetValue);
        assert!(err.message.contains("--var rows=VALUE"), "{err}");
    }

    #[test]
    fn input_hash_changes_with_every_input() {
        let w = workflow("workflows:\n  - name: a\n    commands: [echo 1]\n");
        let vars = BTreeMap::new();
        let base = input_hash(&w, &vars, "r1", &[], "process");
        assert_eq!(base, input_hash(&w, &vars, "r1", &[], "process"));
        assert_ne!(base, input_hash(&w, &vars, "r2", &[], "process"));
        assert_ne!(
            base,
            input_hash(&w, &vars, "r1", &[("d".into(), "x".into())], "process")
        );
        let more = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert_ne!(base, input_hash(&w, &more, "r1", &[], "process"));
        let other = workflow("workflows:\n  - name: a\n    commands: [echo 2]\n");
        assert_ne!(base, input_hash(&other, &vars, "r1", &[], "process"));
    }
}
