//! The project's backend configuration, `.dstack/backends.yml`: which
//! backends plans may use and how to reach them. Without the file, only
//! `local` (this machine) is configured.
//!
//! ```yaml
//! backends:
//!   - type: aws
//!     regions: [us-east-1, us-west-2]
//!     endpoint_url: http://127.0.0.1:5000   # e.g. moto
//!     vpc_id: vpc-0abc
//!     subnet_id: subnet-0abc
//!     tags: {team: ml}
//!   - type: fake                             # tests and benchmarks
//!     name: aws
//!     catalog: catalog.json
//!     latency_ms: 100
//! local:
//!   enabled: true
//!   runtime: runner                          # or `process`, `docker`, `fake`
//!   pull_policy: missing                     # or `always`, `never`
//! ```

use std::collections::BTreeMap;

use crate::config::convert::{Cx, FromYaml, LooseString, choice};
use crate::diag::Diagnostic;
use crate::grammar::Memory;
use crate::yaml::{Node, Value};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendsFile {
    /// Configured cloud (and fake) backends.
    pub backends: Vec<BackendConfig>,
    /// This machine.
    pub local: LocalConfig,
}

/// One backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendConfig {
    /// AWS EC2.
    Aws(AwsConfig),
    /// A fake cloud (tests, benchmarks).
    Fake(FakeConfig),
}

impl BackendConfig {
    /// The name offers and resources are recorded under.
    pub fn name(&self) -> &str {
        match self {
            Self::Aws(_) => "aws",
            Self::Fake(f) => &f.name,
        }
    }
}

/// AWS settings. Credentials come from the standard AWS chain (env vars,
/// `~/.aws`, instance role).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AwsConfig {
    /// Regions to use (default: `us-east-1`).
    pub regions: Vec<String>,
    /// API endpoint override (e.g. a local moto server).
    pub endpoint_url: Option<String>,
    /// VPC to place instances in (default VPC if unset).
    pub vpc_id: Option<String>,
    /// Subnet to place instances in.
    pub subnet_id: Option<String>,
    /// AMI for instances (default: the newest Ubuntu the account sees).
    pub ami_id: Option<String>,
    /// Tags added to every resource.
    pub tags: BTreeMap<String, String>,
    /// AWS profile name.
    pub profile: Option<String>,
}

/// A fake backend.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeConfig {
    /// Backend name it poses as (default `fake`).
    pub name: String,
    /// Catalog file with its offers (relative to `.dstack/`); default: the
    /// shipped catalog's AWS rows.
    pub catalog: Option<String>,
    /// Latency of every call, ms.
    pub latency_ms: u64,
    /// File keeping the fake cloud (relative to `.dstack/`); default: memory.
    pub state_file: Option<String>,
    /// Injected failures (JSON-compatible mappings).
    pub failures: Vec<serde_json::Value>,
}

/// This machine as the built-in `local` fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// Offer this machine to runs.
    pub enabled: bool,
    /// How jobs run: `runner` (default: Docker for runs with `image:`,
    /// else host processes), `process`, `docker`; `fake` / `fake-long`
    /// (jobs end at once / run until stopped) for tests.
    pub runtime: String,
    /// When the Docker executor pulls images: `missing` (default: only
    /// when not on the host), `always`, `never`.
    pub pull_policy: String,
    /// Override detected CPUs.
    pub cpus: Option<u32>,
    /// Override detected memory.
    pub memory: Option<Memory>,
    /// Override detected GPUs: `NAME:MEMORY:COUNT`, e.g. `A10G:24GB:1`.
    pub gpu: Option<String>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            runtime: "runner".into(),
            pull_policy: "missing".into(),
            cpus: None,
            memory: None,
            gpu: None,
        }
    }
}

impl FromYaml for BackendsFile {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "backends file", &["backends", "local"])?;
        let backends = match f.value("backends") {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items
                .iter()
                .filter_map(|i| BackendConfig::from_yaml(i, cx))
                .collect(),
            Some(other) => {
                cx.expected(other, "a list of backends");
                Vec::new()
            }
            None => Vec::new(),
        };
        let local = f.opt::<LocalConfig>(cx, "local").unwrap_or_default();
        Some(Self { backends, local })
    }
}

impl FromYaml for BackendConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let kind = node
            .get("type")
            .and_then(|e| choice(&e.value, cx, "backend type", &["aws", "fake", "local"]));
        match kind {
            Some("aws") => {
                let f = cx.fields(
                    node,
                    "aws backend",
                    &[
                        "type",
                        "regions",
                        "endpoint_url",
                        "vpc_id",
                        "subnet_id",
                        "ami_id",
                        "tags",
                        "profile",
                    ],
                )?;
                Some(Self::Aws(AwsConfig {
                    regions: f
                        .opt(cx, "regions")
                        .unwrap_or_else(|| vec!["us-east-1".into()]),
                    endpoint_url: f.opt(cx, "endpoint_url"),
                    vpc_id: f.opt(cx, "vpc_id"),
                    subnet_id: f.opt(cx, "subnet_id"),
                    ami_id: f.opt(cx, "ami_id"),
                    tags: f.opt(cx, "tags").unwrap_or_default(),
                    profile: f.opt(cx, "profile"),
                }))
            }
            Some("fake") => {
                let f = cx.fields(
                    node,
                    "fake backend",
                    &[
                        "type",
                        "name",
                        "catalog",
                        "latency_ms",
                        "state_file",
                        "failures",
                    ],
                )?;
                let failures = f.value("failures").map(|n| n.to_json());
                Some(Self::Fake(FakeConfig {
                    name: f.opt(cx, "name").unwrap_or_else(|| "fake".into()),
                    catalog: f.opt(cx, "catalog"),
                    latency_ms: f.opt(cx, "latency_ms").unwrap_or(0),
                    state_file: f.opt(cx, "state_file"),
                    failures: match failures {
                        Some(serde_json::Value::Array(items)) => items,
                        _ => Vec::new(),
                    },
                }))
            }
            Some(_) => {
                cx.push(
                    Diagnostic::error(
                        "dstack::backends::local",
                        "`local` is configured under `local:`, not in `backends:`",
                    )
                    .at(node.span, "here"),
                );
                None
            }
            None => {
                if node.get("type").is_none() {
                    cx.expected(node, "a backend with `type: aws` or `type: fake`");
                }
                None
            }
        }
    }
}

impl FromYaml for LocalConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "local",
            &["enabled", "runtime", "pull_policy", "cpus", "memory", "gpu"],
        )?;
        let pull_policy = f
            .value("pull_policy")
            .and_then(|n| choice(n, cx, "pull_policy", &["missing", "always", "never"]))
            .unwrap_or("missing");
        let runtime = f
            .value("runtime")
            .and_then(|n| {
                choice(
                    n,
                    cx,
                    "runtime",
                    &["runner", "process", "docker", "fake", "fake-long"],
                )
            })
            .unwrap_or("runner");
        Some(Self {
            enabled: f.opt(cx, "enabled").unwrap_or(true),
            runtime: runtime.to_string(),
            pull_policy: pull_policy.to_string(),
            cpus: f.opt(cx, "cpus"),
            memory: f.opt(cx, "memory"),
            gpu: f.opt::<LooseString>(cx, "gpu").map(|s| s.0),
        })
    }
}

/// Reads `.dstack/backends.yml` text: the file, or every problem in it.
pub fn load_backends(
    name: &str,
    bytes: &[u8],
) -> (
    Option<BackendsFile>,
    crate::diag::SourceFile,
    Vec<Diagnostic>,
) {
    let limits = crate::yaml::Limits::default();
    match crate::yaml::parse_bytes(bytes, name, &limits) {
        Err(failure) => {
            let (file, diag) = *failure;
            (None, file, vec![diag])
        }
        Ok((text, node)) => {
            let file = crate::diag::SourceFile::new(name, text);
            let mut cx = Cx::new(&file);
            let parsed = if node.value == Value::Null {
                Some(BackendsFile::default())
            } else {
                BackendsFile::from_yaml(&node, &mut cx)
            };
            let diags = cx.finish();
            let ok = !diags.iter().any(Diagnostic::is_error);
            (parsed.filter(|_| ok), file, diags)
        }
    }
}
