//! The plan document, format 1: what `dstack plan --format json` prints and
//! `dstack plan -o FILE` saves. Minor versions only add fields; consumers
//! must ignore unknown fields and unknown `action_reason` codes.
//!
//! `action_reason` and `reason` are for display; `dstack apply` acts on
//! `actions` only.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::action::{ActionReason, ChangeVerb};
use crate::addr::{ResourceAddr, ResourceKind};
use crate::money::{HourlyRate, Usd};
use crate::offer::Offer;

/// A spec held behind an [`Arc`] (so a change's before and after, or many
/// changes, share one value) reads and writes as the plain JSON value.
mod shared_spec {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Arc<serde_json::Value>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_deref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Arc<serde_json::Value>>, D::Error> {
        Ok(Option::<serde_json::Value>::deserialize(d)?.map(Arc::new))
    }
}

/// The format version written.
pub const PLAN_FORMAT_VERSION: &str = "1.0";

/// One step of a change, in order (`["delete", "create"]` is a replace that
/// deletes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActionWord {
    /// Nothing to do.
    NoOp,
    /// Create.
    Create,
    /// Change in place.
    Update,
    /// Delete.
    Delete,
}

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlanOperation {
    /// Make the infrastructure match the configuration.
    Apply,
    /// Delete everything recorded.
    Destroy,
}

/// A changed field of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Dotted path (`resources.gpu`, `nodes.max`).
    pub path: String,
    /// Old value (`null` when added).
    pub before: serde_json::Value,
    /// New value (`null` when removed).
    pub after: serde_json::Value,
    /// This field alone forces a replacement.
    pub forces_replacement: bool,
    /// Why, in words ("resources cannot change on a running task").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A configuration field set on the command line (`dstack apply --gpu A100`),
/// recorded so a reviewer sees it and a saved plan applies it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigOverride {
    /// The run it changed.
    pub address: ResourceAddr,
    /// The configuration file of that run.
    pub file: String,
    /// The flag (`--gpu`, `-e`, `--`).
    pub flag: String,
    /// Dotted field path (`resources.gpu`, `env.HF_TOKEN`, `commands`).
    pub field: String,
    /// The value the field now has, as written in YAML.
    pub value: serde_json::Value,
    /// Always `from the command line`.
    pub reason: String,
}

/// Where a resource is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceLocation {
    /// Configuration file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Cost of a run over its life, when bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LifetimeCost {
    /// With the chosen offers for the whole bound.
    pub min: Usd,
    /// With the dearest offers failover may pick (within `max_price`).
    pub max: Usd,
    /// The bound, in seconds (`max_duration` plus idle time).
    pub bound_secs: u64,
    /// How the bound was derived.
    pub basis: String,
}

/// One resource's planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceChange {
    /// Address.
    pub address: ResourceAddr,
    /// Kind.
    pub kind: ResourceKind,
    /// Steps in order.
    pub actions: Vec<ActionWord>,
    /// Machine-readable reason code (display only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_reason: Option<ActionReason>,
    /// Reason in words (display only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Field-level differences (updates and replaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<FieldChange>,
    // Shared: a no-op change's before and after are one value.
    /// Recorded spec.
    #[serde(default, with = "shared_spec")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub before: Option<Arc<serde_json::Value>>,
    /// Desired spec.
    #[serde(default, with = "shared_spec")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub after: Option<Arc<serde_json::Value>>,
    /// Fingerprint of `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Resources this one needs first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ResourceAddr>,
    /// The chosen offer (instances, gateways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    /// Next offers to try if the chosen one has no capacity, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_offers: Vec<Offer>,
    /// How many offers matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers_matched: Option<usize>,
    /// For jobs: the instance it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<ResourceAddr>,
    /// $/h before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_before: Option<HourlyRate>,
    /// $/h after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_after: Option<HourlyRate>,
    /// For runs: cost over the run's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<LifetimeCost>,
    /// Where it is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLocation>,
    /// The state row version this change was planned against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_version: Option<u64>,
    /// The recorded provider id (for updates and deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The backend holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl ResourceChange {
    /// True unless the actions are `["no-op"]`.
    pub fn is_change(&self) -> bool {
        self.actions != [ActionWord::NoOp]
    }

    /// Create, update, replace, delete or no-op, as one verb.
    pub fn verb(&self) -> ChangeVerb {
        match self.actions.as_slice() {
            [ActionWord::Create] => ChangeVerb::Create,
            [ActionWord::Update] => ChangeVerb::Update,
            [ActionWord::Delete] => ChangeVerb::Delete,
            [ActionWord::Delete, ActionWord::Create] | [ActionWord::Create, ActionWord::Delete] => {
                ChangeVerb::Replace
            }
            _ => ChangeVerb::NoOp,
        }
    }
}

/// Something changed outside dstack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceDrift {
    /// Address.
    pub address: ResourceAddr,
    /// `deleted`, `interrupted`, `changed`.
    pub drift: String,
    /// What was found, in words.
    pub detail: String,
    /// Recorded status.
    pub recorded_status: String,
    /// Status the provider reports.
    pub observed_status: String,
}

/// A cloud resource tagged as ours that state does not know ("ghost spend").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Orphan {
    /// Backend.
    pub provider: String,
    /// The backend's id.
    pub provider_id: String,
    /// Instance, volume or gateway.
    pub kind: ResourceKind,
    /// Address from its tags, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// State lineage from its tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What it burns per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<HourlyRate>,
    /// Why it is an orphan.
    pub reason: String,
}

/// Totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Creates.
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Replacements.
    pub replace: usize,
    /// Deletes.
    pub destroy: usize,
    /// Unchanged.
    pub no_op: usize,
}

/// Money of the whole plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanCost {
    /// $/h of what is recorded now.
    pub hourly_before: HourlyRate,
    /// $/h after applying.
    pub hourly_after: HourlyRate,
    /// `hourly_after - hourly_before` (may be negative).
    pub hourly_delta: Usd,
    /// Sum over runs with bounded lifetimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<LifetimeCost>,
    /// Resources whose lifetime is unbounded (billed until deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbounded: Vec<ResourceAddr>,
    /// $/h of orphans (resources tagged as ours, unknown to state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ghost_hourly: Option<HourlyRate>,
}

/// A problem found while planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDiagnostic {
    /// `error` or `warning`.
    pub severity: String,
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The resource concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ResourceAddr>,
    /// Where in the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// A state row a plan was made against (for staleness checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadVersion {
    /// Address.
    pub address: ResourceAddr,
    /// Version read; `None` when there was no row.
    pub version: Option<u64>,
}

fn default_scope() -> String {
    "project".into()
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDoc {
    /// `1.0`.
    pub format_version: String,
    /// Content hash of the plan.
    pub plan_id: String,
    /// RFC 3339 time of planning.
    pub created_at: String,
    /// Apply or destroy.
    pub operation: PlanOperation,
    /// Has changes and no errors.
    pub applyable: bool,
    /// Every resource was planned (no errors).
    pub complete: bool,
    /// Planning failed for some resource.
    pub errored: bool,
    /// Something would change.
    pub has_changes: bool,
    /// State lineage planned against.
    pub lineage: String,
    /// Digest of every configuration file read.
    pub config_digest: String,
    /// Files the configuration came from.
    pub config_files: Vec<String>,
    /// `project` (every configuration of the project was read) or `files`
    /// (only `config_files`; nothing outside them is deleted).
    #[serde(default = "default_scope")]
    pub config_scope: String,
    /// Offer catalog version used.
    pub catalog_version: String,
    /// Counts.
    pub summary: Summary,
    /// Per-resource changes (no-ops included), in dependency order.
    pub resource_changes: Vec<ResourceChange>,
    /// Changes found outside dstack (with `--refresh`).
    #[serde(default)]
    pub resource_drift: Vec<ResourceDrift>,
    /// Resources tagged as ours that state does not know.
    #[serde(default)]
    pub orphans: Vec<Orphan>,
    /// Money.
    pub cost: PlanCost,
    /// Errors and warnings.
    #[serde(default)]
    pub diagnostics: Vec<PlanDiagnostic>,
    /// State rows read.
    pub reads: Vec<ReadVersion>,
    /// Fields set on the command line (absent when none; readers of 1.0
    /// without it ignore it as an unknown field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ConfigOverride>,
}

impl PlanDoc {
    /// The changes that do something.
    pub fn effective_changes(&self) -> impl Iterator<Item = &ResourceChange> {
        self.resource_changes.iter().filter(|c| c.is_change())
    }
}
