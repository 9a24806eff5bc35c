//! Service replicas: the `replicas:` count or range and the replica groups of
//! a heterogeneous service (`replicas: [{count, router, ...}]`).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml, LooseString};
use super::enums::{RouterType, SpotPolicy};
use super::grammar_values::count_range;
use super::limits::{Counted, check_written_count};
use super::resources::Resources;
use super::run::read_commands;
use super::service_traffic::Scaling;
use crate::diag::Diagnostic;
use crate::grammar::{GroupName, Range, Template};
use crate::yaml::Node;

/// Service `replicas`: a count or range, or (older spelling) a list of groups.
pub(crate) fn replicas_schema(generator: &mut SchemaGenerator) -> Schema {
    let range = generator.subschema_for::<Range<u32>>();
    let group = generator.subschema_for::<ReplicaGroup>();
    json_schema!({ "anyOf": [range, { "type": "array", "items": group }, { "type": "null" }] })
}

/// Reads `replicas:` (or a group's `count:`): a bounded count range.
pub(crate) fn read_replicas(f: &Fields, cx: &mut Cx, key: &str) -> Option<Range<u32>> {
    let node = f.value(key)?;
    // Over the limit is an error, but the range is still read: `scaling` has one.
    check_written_count(cx, node, Counted::Replicas);
    let range = count_range(node, cx, "replica count")?;
    if range.max.is_none() {
        cx.push(
            Diagnostic::error(
                "dstack::config::invalid_replicas",
                "replica range needs a maximum",
            )
            .at(node.span, "no upper bound")
            .help(format!("write e.g. `{}..4`", range.min.unwrap_or(0))),
        );
        return None;
    }
    Some(Range {
        min: Some(range.min.unwrap_or(0)),
        max: range.max,
    })
}

/// One group of replicas in a heterogeneous service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = super::json::replica_group_transform)]
pub struct ReplicaGroup {
    /// Group name (default: its index).
    pub name: Option<GroupName>,
    /// Replica count or range (also spelt `count`).
    pub replicas: Range<u32>,
    /// Autoscaling of this group.
    pub scaling: Option<Scaling>,
    /// Resources of each replica (not inherited).
    pub resources: Option<Resources>,
    /// Spot policy of this group.
    pub spot_policy: Option<SpotPolicy>,
    /// Reservation of this group.
    pub reservation: Option<String>,
    /// Commands of this group.
    pub commands: Option<Vec<Template>>,
    /// Image of this group.
    pub image: Option<String>,
    /// Python version of this group.
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub python: Option<String>,
    /// nvcc image.
    pub nvcc: Option<bool>,
    /// Docker-in-Docker.
    pub docker: Option<bool>,
    /// Privileged containers.
    pub privileged: Option<bool>,
    /// Router of this group.
    pub router: Option<Router>,
}

/// `router: {type: sglang | dynamo}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Router {
    /// Router kind.
    #[serde(rename = "type")]
    pub kind: RouterType,
}

impl FromYaml for Router {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "router", &["type"])?;
        f.req(cx, "type").map(|kind| Self { kind })
    }
}

impl FromYaml for ReplicaGroup {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "replica group",
            &[
                "name",
                "replicas",
                "count",
                "scaling",
                "resources",
                "spot_policy",
                "reservation",
                "commands",
                "image",
                "python",
                "nvcc",
                "docker",
                "privileged",
                "router",
            ],
        )?;
        f.exclusive(cx, "replicas", "count");
        let key = if f.has("count") { "count" } else { "replicas" };
        let replicas = if f.has(key) {
            read_replicas(&f, cx, key)
        } else {
            cx.push(f.missing("count"));
            None
        };
        let group = Self {
            name: f.opt(cx, "name"),
            replicas: replicas.unwrap_or(Range::exact(1)),
            scaling: f.opt(cx, "scaling"),
            resources: f.opt(cx, "resources"),
            spot_policy: f.opt(cx, "spot_policy"),
            reservation: f.opt(cx, "reservation"),
            commands: read_commands(&f, cx, "commands"),
            image: f.opt(cx, "image"),
            python: f.opt::<LooseString>(cx, "python").map(|s| s.0),
            nvcc: f.opt(cx, "nvcc"),
            docker: f.opt(cx, "docker"),
            privileged: f.opt(cx, "privileged"),
            router: f.opt(cx, "router"),
        };
        if group.privileged == Some(false) && group.docker == Some(true) {
            f.exclusive(cx, "privileged", "docker");
        }
        if group.replicas.min != group.replicas.max && group.scaling.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_scaling",
                    "a replica range needs `scaling`",
                )
                .at(f.key_span(key), "autoscaled replicas"),
            );
        }
        replicas.map(|_| group)
    }
}
