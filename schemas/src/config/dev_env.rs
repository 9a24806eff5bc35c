//! `type: dev-environment` (spec §2.2): an interactive machine with an IDE.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml};
use super::enums::Ide;
use super::run::{RunCommon, forbid, run_keys};
use super::task::check_ports_unique;
use crate::diag::Diagnostic;
use crate::grammar::{OffDuration, PortMapping};
use crate::yaml::{Node, Value};

/// An interactive development machine.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DevEnvironmentConfig {
    /// Shared run fields.
    #[serde(flatten)]
    pub common: RunCommon,
    /// Ports to forward while attached.
    pub ports: Option<Vec<PortMapping>>,
    /// IDE to install (none: SSH only).
    pub ide: Option<Ide>,
    /// IDE version.
    pub version: Option<String>,
    /// Commands run at start.
    pub init: Option<Vec<String>>,
    /// Stop after this long without SSH connections.
    pub inactivity_duration: Option<OffDuration>,
}

impl FromYaml for DevEnvironmentConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let keys = run_keys(&["ports", "ide", "version", "init", "inactivity_duration"]);
        let f = cx.fields(node, "dev-environment", &keys)?;
        let common = RunCommon::read(&f, cx, "dev-environment");
        forbid(
            &f,
            cx,
            "entrypoint",
            "dev environments run their IDE and `init` commands",
        );
        let inactivity_duration = match f.value("inactivity_duration").map(|n| &n.value) {
            Some(Value::Bool(true, _)) => None,
            _ => f.opt(cx, "inactivity_duration"),
        };
        let env = DevEnvironmentConfig {
            common,
            ports: f.opt(cx, "ports"),
            ide: f.opt(cx, "ide"),
            version: f.opt(cx, "version"),
            init: f.opt(cx, "init"),
            inactivity_duration,
        };
        if env.version.is_some() && env.ide.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::version_without_ide",
                    "`version` needs `ide`",
                )
                .at(f.key_span("version"), "no IDE to version")
                .help("set `ide: vscode` (or cursor, windsurf, zed), or remove `version`"),
            );
        }
        if matches!(env.inactivity_duration, Some(OffDuration::After(_)))
            && env.common.dstack == Some(true)
        {
            f.exclusive(cx, "inactivity_duration", "dstack");
        }
        check_ports_unique(cx, f.value("ports"), env.ports.as_deref());
        Some(env)
    }
}
