//! Per-run overrides of `dstack plan`/`dstack apply` (`--gpu`, `-e`,
//! `--max-price`, ..., and arguments after `--` as `${{ run.args }}`).
//!
//! Each override sets one field of the run's configuration as JSON and the
//! configuration is read again with the YAML rules (`config_from_json`), so
//! a value on the command line accepts exactly what the file would, with
//! the same messages. What was set is recorded in the plan
//! ([`ConfigOverride`]), which is how a saved plan applies it again.
//! [`SpotSwitches`] live here, under `cli` (which flattens them into both
//! `offer` and the overrides), so this module imports nothing of `cli`.

use clap::Args;
use dstack_planner::desired::{ProjectConfig, build_desired};
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::config::config_from_json;
use dstack_schemas::plan::ConfigOverride;
use serde_json::Value;

/// The reason every override carries in the plan.
pub const REASON: &str = "from the command line";

/// dstack's switch spellings of the spot policy, shared by `offer` and
/// the per-run overrides of `plan`/`apply`.
#[derive(Debug, Clone, Default, Args)]
pub struct SpotSwitches {
    /// Spot instances only (`spot_policy: spot`).
    #[arg(long, conflicts_with_all = ["on_demand", "spot_auto"])]
    pub spot: bool,
    /// On-demand instances only (`spot_policy: on-demand`).
    #[arg(long, conflicts_with = "spot_auto")]
    pub on_demand: bool,
    /// Spot if available, else on-demand (`spot_policy: auto`).
    #[arg(long)]
    pub spot_auto: bool,
}

impl SpotSwitches {
    /// The switch given, if any, and the policy it means.
    pub fn chosen(&self) -> Option<(&'static str, &'static str)> {
        [
            (self.spot, "--spot", "spot"),
            (self.on_demand, "--on-demand", "on-demand"),
            (self.spot_auto, "--spot-auto", "auto"),
        ]
        .into_iter()
        .find(|(on, _, _)| *on)
        .map(|(_, flag, policy)| (flag, policy))
    }
}

/// Overrides of one run's configuration.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Run overrides (one run configuration)")]
pub struct RunOverrides {
    /// Run name (instead of `name:`).
    #[arg(short = 'n', long = "name")]
    pub name: Option<String>,
    /// Environment variable `KEY=VALUE`, or `KEY` to pass this shell's
    /// (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// GPUs, as `resources.gpu` (e.g. `A100:80GB:2`, `24GB..`).
    #[arg(long, allow_negative_numbers = true)]
    pub gpu: Option<String>,
    /// CPUs, as `resources.cpu` (e.g. `8`, `4..`).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu: Option<String>,
    /// Memory, as `resources.memory` (e.g. `32GB..`).
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<String>,
    /// Disk, as `resources.disk` (e.g. `100GB..`).
    #[arg(long, allow_negative_numbers = true)]
    pub disk: Option<String>,
    /// Highest $/h per instance, as `max_price` (e.g. `1.5`).
    #[arg(long, allow_negative_numbers = true)]
    pub max_price: Option<String>,
    /// Longest run time, as `max_duration` (e.g. `2h`, `off`).
    #[arg(long, allow_negative_numbers = true)]
    pub max_duration: Option<String>,
    /// `--spot`, `--on-demand`, `--spot-auto`.
    #[command(flatten)]
    pub spot: SpotSwitches,
    /// Retry on failure or no capacity (`retry: true`).
    #[arg(long, conflicts_with = "no_retry")]
    pub retry: bool,
    /// Do not retry (`retry: false`).
    #[arg(long)]
    pub no_retry: bool,
    /// Only this backend (repeatable), as `backends`.
    #[arg(short = 'b', long = "backend")]
    pub backends: Vec<String>,
    /// Only this region (repeatable), as `regions`.
    #[arg(short = 'r', long = "region")]
    pub regions: Vec<String>,
    /// Only these instance types (repeatable), as `instance_types`.
    #[arg(long = "instance-type", value_name = "NAME")]
    pub instance_types: Vec<String>,
    /// Only these fleets (repeatable), as `fleets`.
    #[arg(long = "fleet", value_name = "NAME")]
    pub fleets: Vec<String>,
    /// `spot`, `on-demand` or `auto`, as `spot_policy`.
    #[arg(long, value_name = "POLICY", conflicts_with_all = ["spot", "on_demand", "spot_auto"])]
    pub spot_policy: Option<String>,
    /// Use existing instances only (`creation_policy: reuse`).
    #[arg(short = 'R', long)]
    pub reuse: bool,
    /// How long an idle new instance is kept, as `idle_duration`.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true)]
    pub idle_duration: Option<String>,
    /// Keep a new instance after the run (`idle_duration: off`).
    #[arg(long, conflicts_with = "idle_duration")]
    pub dont_destroy: bool,
    /// How long to keep retrying, as `retry.duration` (implies --retry).
    #[arg(long, value_name = "DURATION", conflicts_with = "no_retry")]
    pub retry_duration: Option<String>,
    /// Arguments after `--`: the value of `${{ run.args }}` in `commands`.
    #[arg(last = true, value_name = "ARGS")]
    pub run_args: Vec<String>,
}

/// Why overrides could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// No run configuration was read.
    #[error(
        "{flag} overrides a run, and no task, service or dev-environment configuration was read; pass its file with -f"
    )]
    NoRun {
        /// The first override flag.
        flag: String,
    },
    /// Several run configurations were read.
    #[error(
        "{flag} overrides one run, and {} run configurations were read ({}); choose one with -f FILE",
        files.len(),
        files.join(", ")
    )]
    SeveralRuns {
        /// The first override flag.
        flag: String,
        /// Their files.
        files: Vec<String>,
    },
    /// The value is not valid for the field.
    #[error("{flag} {value}: {message} (it sets `{field}` of {file})")]
    Invalid {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// The field it sets.
        field: String,
        /// The configuration file.
        file: String,
        /// What the YAML rules say.
        message: String,
    },
    /// Arguments after `--`, and no command uses them.
    #[error(
        "arguments after `--` become `${{{{ run.args }}}}`, and no command of {file} refers to it; add `${{{{ run.args }}}}` to `commands`, or drop the arguments"
    )]
    ArgsUnused {
        /// The configuration file.
        file: String,
    },
}

/// One field to set: the flag, the field path and its value.
#[derive(Debug, Clone)]
struct Setting {
    flag: String,
    field: String,
    value: Value,
    /// As typed, for messages.
    given: String,
}

impl Setting {
    fn new(flag: &str, field: &str, value: Value, given: &str) -> Self {
        Self {
            flag: flag.into(),
            field: field.into(),
            value,
            given: given.into(),
        }
    }
}

impl RunOverrides {
    /// Nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.settings().is_empty() && self.run_args.is_empty()
    }

    fn settings(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        self.value_settings(&mut |flag, field, value, given| {
            out.push(Setting::new(flag, field, value, given))
        });
        self.switch_settings(&mut |flag, field, value, given| {
            out.push(Setting::new(flag, field, value, given))
        });
        out
    }

    /// Flags with a value: name, env, resources, price, durations, lists.
    fn value_settings(&self, set: &mut impl FnMut(&str, &str, Value, &str)) {
        if let Some(name) = &self.name {
            set("--name", "name", Value::String(name.clone()), name);
        }
        for entry in &self.env {
            let (key, value) = entry
                .split_once('=')
                .map_or((entry.as_str(), None), |(k, v)| (k, Some(v)));
            let value = value.map_or(Value::Null, |v| Value::String(v.into()));
            set("--env", &format!("env.{key}"), value, entry);
        }
        for (flag, field, text) in [
            ("--gpu", "resources.gpu", &self.gpu),
            ("--cpu", "resources.cpu", &self.cpu),
            ("--memory", "resources.memory", &self.memory),
            ("--disk", "resources.disk", &self.disk),
            ("--max-price", "max_price", &self.max_price),
            ("--max-duration", "max_duration", &self.max_duration),
            ("--spot-policy", "spot_policy", &self.spot_policy),
            ("--idle-duration", "idle_duration", &self.idle_duration),
            ("--retry-duration", "retry.duration", &self.retry_duration),
        ] {
            if let Some(text) = text {
                set(flag, field, scalar(text), text);
            }
        }
        for (flag, field, list) in [
            ("--backend", "backends", &self.backends),
            ("--region", "regions", &self.regions),
            ("--instance-type", "instance_types", &self.instance_types),
            ("--fleet", "fleets", &self.fleets),
        ] {
            if !list.is_empty() {
                let value = Value::Array(list.iter().cloned().map(Value::String).collect());
                set(flag, field, value, &list.join(" "));
            }
        }
    }

    /// Switches: spot policy, retry, reuse, dont-destroy.
    fn switch_settings(&self, set: &mut impl FnMut(&str, &str, Value, &str)) {
        let text = |t: &str| Value::String(t.into());
        if let Some((flag, policy)) = self.spot.chosen() {
            set(flag, "spot_policy", text(policy), "");
        }
        for (on, flag, field, value) in [
            (self.reuse, "--reuse", "creation_policy", text("reuse")),
            (
                self.dont_destroy,
                "--dont-destroy",
                "idle_duration",
                text("off"),
            ),
            (
                self.retry && self.retry_duration.is_none(),
                "--retry",
                "retry",
                Value::Bool(true),
            ),
            (self.no_retry, "--no-retry", "retry", Value::Bool(false)),
        ] {
            if on {
                set(flag, field, value, "");
            }
        }
    }

    fn first_flag(&self) -> String {
        self.settings()
            .first()
            .map_or_else(|| "`--`".to_string(), |s| s.flag.clone())
    }
}

/// A command-line value typed as YAML would type it: a whole number, a
/// number, or a string.
fn scalar(text: &str) -> Value {
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        return Value::from(n);
    }
    match trimmed.parse::<f64>() {
        Ok(f) if f.is_finite() && trimmed.chars().any(|c| c.is_ascii_digit()) => Value::from(f),
        _ => Value::String(text.to_string()),
    }
}

/// Applies `overrides` to the one run configuration of `configs`, returning
/// the configurations and what was set.
pub fn apply(
    mut configs: Vec<ProjectConfig>,
    overrides: &RunOverrides,
) -> Result<(Vec<ProjectConfig>, Vec<ConfigOverride>), OverrideError> {
    if overrides.is_empty() {
        return Ok((configs, Vec::new()));
    }
    let index = the_run(&configs, overrides)?;
    let config = &mut configs[index];
    let file = config.file.name().to_string();
    let mut json = serde_json::to_value(&config.config).unwrap_or(Value::Null);
    let mut applied = Vec::new();
    for s in overrides.settings() {
        json = set_checked(json, &s, &file)?;
        applied.push((s.flag, s.field.clone(), s.value));
    }
    if !overrides.run_args.is_empty() {
        let commands = with_run_args(&json, &overrides.run_args)
            .ok_or_else(|| OverrideError::ArgsUnused { file: file.clone() })?;
        let s = Setting {
            flag: "--".into(),
            field: "commands".into(),
            value: commands,
            given: overrides.run_args.join(" "),
        };
        json = set_checked(json, &s, &file)?;
        applied.push((s.flag, s.field, s.value));
    }
    config.config = config_from_json(&json).map_err(|err| OverrideError::Invalid {
        flag: overrides.first_flag(),
        value: String::new(),
        field: String::new(),
        file: file.clone(),
        message: err.to_string(),
    })?;
    let address = run_address(&configs, index, &file);
    let records = applied
        .into_iter()
        .map(|(flag, field, value)| ConfigOverride {
            address: address.clone(),
            file: file.clone(),
            flag,
            field,
            value,
            reason: REASON.into(),
        })
        .collect();
    Ok((configs, records))
}

/// Applies the overrides a saved plan recorded to the configurations read
/// again when it is applied.
pub fn reapply(mut configs: Vec<ProjectConfig>, recorded: &[ConfigOverride]) -> Vec<ProjectConfig> {
    for o in recorded {
        let Some(config) = configs.iter_mut().find(|c| c.file.name() == o.file) else {
            continue;
        };
        let mut json = serde_json::to_value(&config.config).unwrap_or(Value::Null);
        set_field(&mut json, &o.field, o.value.clone());
        if let Ok(c) = config_from_json(&json) {
            config.config = c;
        }
    }
    configs
}

/// The index of the only run configuration.
fn the_run(configs: &[ProjectConfig], overrides: &RunOverrides) -> Result<usize, OverrideError> {
    let runs: Vec<usize> = (0..configs.len())
        .filter(|&i| configs[i].config.run_common().is_some())
        .collect();
    match runs.as_slice() {
        [one] => Ok(*one),
        [] => Err(OverrideError::NoRun {
            flag: overrides.first_flag(),
        }),
        _ => Err(OverrideError::SeveralRuns {
            flag: overrides.first_flag(),
            files: runs
                .iter()
                .map(|&i| configs[i].file.name().to_string())
                .collect(),
        }),
    }
}

/// Sets one field and reads the configuration again, naming the flag when
/// the value is not valid there.
fn set_checked(mut json: Value, s: &Setting, file: &str) -> Result<Value, OverrideError> {
    set_field(&mut json, &s.field, s.value.clone());
    match config_from_json(&json) {
        Ok(_) => Ok(json),
        Err(err) => Err(OverrideError::Invalid {
            flag: s.flag.clone(),
            value: s.given.clone(),
            field: s.field.clone(),
            file: file.into(),
            message: err.to_string(),
        }),
    }
}

/// Sets a dotted field; `env.KEY` replaces or adds one `KEY=VALUE` entry
/// (`null`: `KEY`, inherited).
fn set_field(json: &mut Value, field: &str, value: Value) {
    if let Some(key) = field.strip_prefix("env.") {
        set_env(json, key, value);
        return;
    }
    let mut at = json;
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        at = map.entry(part.to_string()).or_insert(Value::Null);
    }
}

fn set_env(json: &mut Value, key: &str, value: Value) {
    let Some(map) = json.as_object_mut() else {
        return;
    };
    let env = map.entry("env").or_insert_with(|| Value::Array(Vec::new()));
    if !env.is_array() {
        *env = Value::Array(Vec::new());
    }
    let Some(list) = env.as_array_mut() else {
        return;
    };
    list.retain(|e| {
        e.as_str()
            .is_none_or(|s| s.split_once('=').map_or(s, |(k, _)| k) != key)
    });
    list.push(Value::String(match value.as_str() {
        Some(v) => format!("{key}={v}"),
        None => key.to_string(),
    }));
}

/// `commands` with every `${{ run.args }}` replaced by the arguments
/// (shell-quoted); `None` when no command refers to it.
fn with_run_args(json: &Value, args: &[String]) -> Option<Value> {
    let quoted = shlex::try_join(args.iter().map(String::as_str)).ok()?;
    let commands = json.get("commands")?.as_array()?;
    let mut used = false;
    let replaced = commands
        .iter()
        .map(|c| match c.as_str() {
            Some(text) => {
                let (out, n) = replace_run_args(text, &quoted);
                used |= n > 0;
                Value::String(out)
            }
            None => c.clone(),
        })
        .collect();
    used.then_some(Value::Array(replaced))
}

/// Replaces `${{ run.args }}` (any spacing inside the braces); returns the
/// text and how many were replaced.
pub fn replace_run_args(text: &str, with: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut count = 0;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        match after.find("}}") {
            Some(end) if after[..end].trim() == "run.args" => {
                out.push_str(&rest[..start]);
                out.push_str(with);
                rest = &after[end + 2..];
                count += 1;
            }
            _ => {
                out.push_str(&rest[..start + 3]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, count)
}

/// The address of the run configured by `configs[index]`.
fn run_address(configs: &[ProjectConfig], index: usize, file: &str) -> ResourceAddr {
    build_desired(configs)
        .resources
        .into_values()
        .find(|r| {
            matches!(r.address, ResourceAddr::Run(_))
                && r.origin.as_ref().is_some_and(|o| o.config == index)
        })
        .map_or_else(|| ResourceAddr::Run(file.to_string()), |r| r.address)
}

/// The addresses of every run of `configs` (`apply --force` replaces them).
pub fn run_addresses(configs: &[ProjectConfig]) -> Vec<ResourceAddr> {
    build_desired(configs)
        .resources
        .into_keys()
        .filter(|a| matches!(a, ResourceAddr::Run(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_args_replace_every_spelling_and_leave_other_references() {
        let (out, n) = replace_run_args(
            "python t.py ${{ run.args }} ${{run.args}} ${{ secrets.X }}",
            "--lr 0.1",
        );
        assert_eq!(n, 2);
        assert_eq!(out, "python t.py --lr 0.1 --lr 0.1 ${{ secrets.X }}");
        assert_eq!(
            replace_run_args("echo ${{ oops", "x"),
            ("echo ${{ oops".into(), 0)
        );
    }

    #[test]
    fn values_are_typed_as_yaml_types_them() {
        assert_eq!(scalar("8"), Value::from(8));
        assert_eq!(scalar("1.5"), Value::from(1.5));
        assert_eq!(scalar("24GB.."), Value::from("24GB.."));
        assert_eq!(scalar("inf"), Value::from("inf"));
    }

    #[test]
    fn env_entries_are_replaced_by_name() {
        let mut json = serde_json::json!({"env": ["A=1", "B", "C=3"]});
        set_field(&mut json, "env.A", Value::from("9"));
        set_field(&mut json, "env.B", Value::from("2"));
        set_field(&mut json, "env.D", Value::Null);
        assert_eq!(json["env"], serde_json::json!(["C=3", "A=9", "B=2", "D"]));
        let mut json = serde_json::json!({"type": "task"});
        set_field(&mut json, "resources.gpu", Value::from("A100"));
        assert_eq!(json["resources"]["gpu"], "A100");
    }
}
