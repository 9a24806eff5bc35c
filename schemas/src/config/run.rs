//! Fields common to every run configuration (dev-environment, task,
//! service; spec §2.1), and the checks they share.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml, LooseString};
use super::enums::{IfExists, Shell};
use super::env_list::EnvList;
use super::profile::{PROFILE_KEYS, ProfileParams};
use super::resources::Resources;
use crate::diag::{Diagnostic, Span};
use crate::grammar::{EnvValue, FileMapping, ResourceName, Template, VolumeMount};
use crate::yaml::{Node, Value};

/// Keys every run configuration accepts (besides its own and the profile's).
pub const RUN_KEYS: &[&str] = &[
    "type",
    "name",
    "image",
    "user",
    "privileged",
    "entrypoint",
    "working_dir",
    "home_dir",
    "registry_auth",
    "python",
    "nvcc",
    "docker",
    "single_branch",
    "env",
    "shell",
    "resources",
    "priority",
    "volumes",
    "repos",
    "files",
    "dstack",
    "setup",
];

/// The keys of a run type: common keys, profile keys and `extra`.
pub fn run_keys(extra: &[&'static str]) -> Vec<&'static str> {
    RUN_KEYS
        .iter()
        .chain(PROFILE_KEYS)
        .chain(extra)
        .copied()
        .collect()
}

/// Python versions the default image provides.
pub const PYTHON_VERSIONS: &[&str] = &["3.9", "3.10", "3.11", "3.12", "3.13", "3.14"];

/// Fields shared by all run types, as written.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
pub struct RunCommon {
    /// Run name (also the key for re-apply).
    pub name: Option<ResourceName>,
    /// Docker image.
    pub image: Option<String>,
    /// `user[:group]` in the container.
    pub user: Option<String>,
    /// Privileged container.
    pub privileged: Option<bool>,
    /// Entrypoint (shell-split).
    pub entrypoint: Option<String>,
    /// Working directory (absolute).
    pub working_dir: Option<String>,
    /// Deprecated, no effect.
    pub home_dir: Option<String>,
    /// Registry credentials.
    pub registry_auth: Option<RegistryAuth>,
    /// Python version of the default image.
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub python: Option<String>,
    /// Use the devel image with nvcc.
    pub nvcc: Option<bool>,
    /// Docker-in-Docker.
    pub docker: Option<bool>,
    /// Clone only the current branch.
    pub single_branch: Option<bool>,
    /// Environment variables.
    #[serde(skip_serializing_if = "env_is_empty")]
    #[schemars(with = "Option<EnvList>")]
    pub env: EnvList,
    /// Shell running the commands.
    pub shell: Option<ShellSpec>,
    /// Resources wanted.
    pub resources: Option<Resources>,
    /// Scheduling priority 0..100.
    pub priority: Option<u32>,
    /// Volume mounts.
    pub volumes: Option<Vec<VolumeMount>>,
    /// Repos to clone (at most one).
    #[serde(default)]
    #[schemars(schema_with = "super::json::list_of_or_string::<RepoSpec>")]
    pub repos: Option<Vec<RepoSpec>>,
    /// Files to upload.
    pub files: Option<Vec<FileMapping>>,
    /// Expose the dstack server to the run.
    pub dstack: Option<bool>,
    /// Deprecated commands run before `init` (dev environments only).
    pub setup: Option<Vec<String>>,
    /// Profile parameters.
    #[serde(flatten)]
    pub profile: ProfileParams,
}

fn env_is_empty(env: &EnvList) -> bool {
    env.0.is_empty()
}

impl RunCommon {
    /// Reads the common fields of a run mapping.
    pub fn read(f: &Fields, cx: &mut Cx, kind: &str) -> Self {
        let common = RunCommon {
            name: f.opt(cx, "name"),
            image: f.opt(cx, "image"),
            user: f.opt(cx, "user"),
            privileged: f.opt(cx, "privileged"),
            entrypoint: f.opt(cx, "entrypoint"),
            working_dir: f.opt(cx, "working_dir"),
            home_dir: f.opt(cx, "home_dir"),
            registry_auth: f.opt(cx, "registry_auth"),
            python: read_python(f, cx),
            nvcc: f.opt(cx, "nvcc"),
            docker: f.opt(cx, "docker"),
            single_branch: f.opt(cx, "single_branch"),
            env: f.opt(cx, "env").unwrap_or_default(),
            shell: f.opt(cx, "shell"),
            resources: f.opt(cx, "resources"),
            priority: f.opt(cx, "priority"),
            volumes: f.opt(cx, "volumes"),
            repos: f.opt(cx, "repos"),
            files: f.opt(cx, "files"),
            dstack: f.opt(cx, "dstack"),
            setup: f.opt(cx, "setup"),
            profile: ProfileParams::read(f, cx, PROFILE_KEYS),
        };
        common.check(f, cx, kind);
        common
    }

    fn check(&self, f: &Fields, cx: &mut Cx, kind: &str) {
        f.exclusive(cx, "image", "python");
        f.exclusive(cx, "image", "docker");
        f.exclusive(cx, "python", "docker");
        f.exclusive(cx, "nvcc", "docker");
        if let (Some(dir), Some(node)) = (&self.working_dir, f.value("working_dir"))
            && !(dir.starts_with('/') || dir.starts_with('~'))
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::relative_path",
                    format!("working_dir `{dir}` is not absolute"),
                )
                .at(node.span, "relative path")
                .help(format!(
                    "write an absolute path, e.g. `/workflow/{}`",
                    dir.trim_start_matches("./")
                )),
            );
        }
        if let (Some(p), Some(node)) = (self.priority, f.value("priority"))
            && p > 100
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    format!("priority {p} is above 100"),
                )
                .at(node.span, "0..100"),
            );
        }
        if let (Some(user), Some(node)) = (&self.user, f.value("user")) {
            check_user(cx, node, user);
        }
        if let (Some(repos), Some(node)) = (&self.repos, f.value("repos"))
            && repos.len() > 1
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::too_many_repos",
                    format!("{} repos given; at most one is supported", repos.len()),
                )
                .at(node.span, "more than one repo"),
            );
        }
        for key in ["home_dir"] {
            if f.has(key) {
                cx.push(
                    Diagnostic::warning(
                        "dstack::config::deprecated",
                        format!("`{key}` is deprecated and has no effect"),
                    )
                    .at(f.key_span(key), "deprecated")
                    .help(format!("remove `{key}`")),
                );
            }
        }
        if f.has("setup") && kind != "dev-environment" {
            cx.push(
                Diagnostic::warning(
                    "dstack::config::deprecated",
                    format!("`setup` has no effect on a {kind}"),
                )
                .at(f.key_span("setup"), "deprecated")
                .help("move these lines to the start of `commands`"),
            );
        }
        if let Some(node) = f.value("env") {
            check_env_templates(cx, node, &self.env);
        }
        if let (Some(auth), Some(node)) = (&self.registry_auth, f.value("registry_auth")) {
            for (key, template) in [("username", &auth.username), ("password", &auth.password)] {
                let value = node.get(key).map_or(node, |e| &e.value);
                check_template(cx, value, template, &["env", "secrets"], "registry_auth");
            }
        }
    }
}

fn read_python(f: &Fields, cx: &mut Cx) -> Option<String> {
    let node = f.value("python")?;
    let LooseString(text) = LooseString::from_yaml(node, cx)?;
    if PYTHON_VERSIONS.contains(&text.as_str()) {
        return Some(text);
    }
    if text == "3.1" {
        cx.push(
            Diagnostic::warning(
                "dstack::config::python_float",
                "`python: 3.1` is read as Python 3.10",
            )
            .at(node.span, "YAML number 3.1")
            .help("write `python: \"3.10\"` to say what you mean"),
        );
        return Some("3.10".into());
    }
    cx.push(
        Diagnostic::error(
            "dstack::config::invalid_python",
            format!("Python `{text}` is not supported"),
        )
        .at(node.span, "unsupported version")
        .help(format!(
            "supported versions: {}",
            PYTHON_VERSIONS.join(", ")
        )),
    );
    None
}

fn check_user(cx: &mut Cx, node: &Node, user: &str) {
    let parts: Vec<&str> = user.split(':').collect();
    let bad = parts.len() > 2
        || parts.iter().any(|p| p.is_empty())
        || parts.iter().any(|p| p.starts_with('-'));
    if bad {
        cx.push(
            Diagnostic::error(
                "dstack::config::invalid_user",
                format!("`{user}` is not `user[:group]`"),
            )
            .at(node.span, "here")
            .help(
                "write a user name or id, optionally with `:group`, e.g. `ubuntu` or `1000:1000`",
            ),
        );
    }
}

/// Checks that every `${{ }}` reference in env values is a secret.
fn check_env_templates(cx: &mut Cx, node: &Node, env: &EnvList) {
    for entry in &env.0 {
        let EnvValue::Set(template) = &entry.value else {
            continue;
        };
        let value_node = match &node.value {
            Value::Map(_) => node.get(&entry.name).map_or(node, |e| &e.value),
            Value::Seq(items) => items
                .iter()
                .find(|n| {
                    n.as_str()
                        .is_some_and(|s| s.split('=').next() == Some(&entry.name))
                })
                .unwrap_or(node),
            _ => node,
        };
        check_template(cx, value_node, template, &["secrets"], "env");
    }
}

/// Reports `${{ }}` references whose namespace is not allowed in `field`.
/// An entry of `allowed` is a namespace (`secrets`) or a full path (`run.args`).
pub fn check_template(
    cx: &mut Cx,
    node: &Node,
    template: &Template,
    allowed: &[&str],
    field: &str,
) {
    let text = node.as_str().unwrap_or_default().to_string();
    for var in template.vars() {
        let path = var.path();
        let ok = allowed.iter().any(|a| *a == var.namespace || *a == path);
        if ok {
            continue;
        }
        // Offsets from the template are offsets into the (unescaped) text when
        // the string has no escapes; otherwise the whole value is marked.
        let span = cx.inner_span(node, &text, var.offset, var.len);
        let allowed_list: Vec<String> = allowed
            .iter()
            .map(|a| match *a {
                "groups" => "${{ groups[i].nodes[j].IP_ADDRESS }}".to_string(),
                a if a.contains('.') => format!("${{{{ {a} }}}}"),
                a => format!("${{{{ {a}.NAME }}}}"),
            })
            .collect();
        cx.push(
            Diagnostic::error(
                "dstack::config::unknown_reference",
                format!("`${{{{ {path} }}}}` cannot be used in {field}"),
            )
            .at(span, "unknown reference")
            .help(format!(
                "{field} may use {}; write `$${{{{` for a literal `${{{{`",
                allowed_list.join(", ")
            )),
        );
    }
}

/// Reads `commands` (a list of strings that may use `${{ run.args }}`).
pub fn read_commands(f: &Fields, cx: &mut Cx, key: &str) -> Option<Vec<Template>> {
    let node = f.value(key)?;
    let commands: Vec<Template> = Vec::from_yaml(node, cx)?;
    if let Value::Seq(items) = &node.value {
        for (item, command) in items.iter().zip(&commands) {
            check_template(cx, item, command, &["run.args", "groups"], "commands");
        }
    }
    Some(commands)
}

/// `registry_auth: {username, password}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegistryAuth {
    /// User name (may use `${{ env.X }}` / `${{ secrets.X }}`).
    pub username: Template,
    /// Password or token (may use `${{ env.X }}` / `${{ secrets.X }}`).
    pub password: Template,
}

impl FromYaml for RegistryAuth {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "registry_auth", &["username", "password"])?;
        let username = f.req(cx, "username");
        let password = f.req(cx, "password");
        Some(Self {
            username: username?,
            password: password?,
        })
    }
}

/// `shell: sh | bash | /absolute/path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ShellSpec {
    /// `sh` or `bash`.
    Named(Shell),
    /// An absolute path.
    Path(String),
}

impl FromYaml for ShellSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        if text.starts_with('/') {
            return Some(Self::Path(text));
        }
        Shell::from_yaml(node, cx).map(Self::Named)
    }
}

/// A repo to clone: local path or URL, optionally with a container path.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RepoSpec {
    /// Local git checkout.
    pub local_path: Option<String>,
    /// Remote URL.
    pub url: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Commit.
    pub hash: Option<String>,
    /// Where in the container (default: the working dir).
    pub path: Option<String>,
    /// What to do if the path exists.
    pub if_exists: Option<IfExists>,
}

impl RepoSpec {
    fn parse_short(text: &str) -> RepoSpec {
        // A URL contains `@` or `//` before its path; `C:\x` is a Windows path.
        let is_url = text.contains("://") || (text.contains('@') && text.contains(':'));
        let (source, path) = if is_url {
            match text.rfind(':') {
                Some(i)
                    if text[i + 1..].starts_with('/')
                        && !text[i + 1..].starts_with("//")
                        && text[..i].contains("//") =>
                {
                    (&text[..i], Some(&text[i + 1..]))
                }
                _ => (text, None),
            }
        } else {
            let drive = text.len() >= 2
                && text.as_bytes()[1] == b':'
                && text.as_bytes()[0].is_ascii_alphabetic();
            let from = if drive { 2 } else { 0 };
            match text[from..].find(':') {
                Some(i) => (&text[..from + i], Some(&text[from + i + 1..])),
                None => (text, None),
            }
        };
        RepoSpec {
            local_path: (!is_url).then(|| source.to_string()),
            url: is_url.then(|| source.to_string()),
            branch: None,
            hash: None,
            path: path.map(str::to_string),
            if_exists: None,
        }
    }
}

impl FromYaml for RepoSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if let Value::Str(s) = &node.value {
            return Some(Self::parse_short(s));
        }
        let f = cx.fields(
            node,
            "repo",
            &["local_path", "url", "branch", "hash", "path", "if_exists"],
        )?;
        let spec = RepoSpec {
            local_path: f.opt(cx, "local_path"),
            url: f.opt(cx, "url"),
            branch: f.opt(cx, "branch"),
            hash: f.opt(cx, "hash"),
            path: f.opt(cx, "path"),
            if_exists: f.opt(cx, "if_exists"),
        };
        if spec.local_path.is_some() == spec.url.is_some() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_repo",
                    "a repo needs exactly one of `local_path` and `url`",
                )
                .at(node.span, "here"),
            );
            return None;
        }
        if spec
            .path
            .as_deref()
            .is_some_and(|p| p.starts_with("~") && !p.starts_with("~/") && p != "~")
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_repo",
                    "repo `path` cannot start with `~user`",
                )
                .at(f.key_span("path"), "here"),
            );
        }
        Some(spec)
    }
}

/// Reports that a field is not allowed for this run type.
pub fn forbid(f: &Fields, cx: &mut Cx, key: &str, why: &str) {
    if f.has(key) {
        cx.push(
            Diagnostic::error(
                "dstack::config::forbidden_field",
                format!("`{key}` is not allowed here: {why}"),
            )
            .at(f.key_span(key), "not allowed")
            .help(format!("remove `{key}`")),
        );
    }
}

/// The span of `key`'s value, or of the mapping when absent.
pub fn value_span(f: &Fields, key: &str) -> Span {
    f.value(key).map_or(f.node().span, |n| n.span)
}
