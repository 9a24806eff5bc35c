//! Building a plan: desired resources against recorded state (and, with a
//! refresh, what providers observe), into ordered, costed changes. Pure:
//! every input is data, the output is a [`PlanDoc`].
//!
//! Layering: `changes` (one change per resource) is under `instances` and
//! `jobs`, which build on it; reading recorded rows is the crate's
//! `recorded`, a leaf none of these import back.

mod changes;

mod instances;
mod jobs;
mod money;
mod observe;

use dstack_schemas::plan::ChangeVerb;
use std::collections::BTreeMap;

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::plan::{
    ActionWord, PLAN_FORMAT_VERSION, PlanCost, PlanDiagnostic, PlanDoc, PlanOperation, ReadVersion,
    ResourceChange, ResourceDrift, Summary,
};
use dstack_state::RecordedResource;

use crate::desired::{Desired, DesiredError, LOCAL_FLEET, ProjectConfig, build_desired, locate};
use crate::graph::{DesiredGraph, build_graph};
use crate::market::{Market, Observed};

/// Which recorded resources the plan may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// All configurations of the project were read: resources not in them
    /// are deleted.
    Project,
    /// Only some files were given (`-f`): nothing outside them is deleted.
    Files,
}

/// Switches of `dstack plan` / `apply` / `destroy`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Plan the deletion of everything recorded.
    pub destroy: bool,
    /// Force these to be replaced (`--replace ADDR`).
    pub replace: Vec<ResourceAddr>,
    /// Fail instead of replacing anything.
    pub no_recreate: bool,
    /// Report drift (resources changed or gone outside dstack).
    pub refresh: bool,
    /// Only these addresses (and what they depend on); destroy only.
    pub targets: Vec<ResourceAddr>,
}

/// Everything a plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The project's configurations (valid ones).
    pub configs: &'a [ProjectConfig],
    /// Digest of every configuration file's bytes.
    pub config_digest: String,
    /// Whether the whole project was read.
    pub scope: Scope,
    /// Recorded state.
    pub recorded: &'a [RecordedResource],
    /// State lineage.
    pub lineage: &'a str,
    /// Offers and prices.
    pub market: &'a Market,
    /// Provider sweeps (orphans always; drift with `refresh`).
    pub observed: &'a Observed,
    /// Switches.
    pub options: &'a PlanOptions,
    /// Planning time, RFC 3339 (injected for reproducible output).
    pub created_at: String,
}

/// Plan-wide working state.
struct Builder<'a> {
    input: &'a PlanInput<'a>,
    desired: Desired,
    /// Recorded rows by address, borrowed from the input (never cloned).
    recorded: BTreeMap<ResourceAddr, &'a RecordedResource>,
    graph: DesiredGraph,
    changes: BTreeMap<ResourceAddr, ResourceChange>,
    diagnostics: Vec<PlanDiagnostic>,
    drift: Vec<ResourceDrift>,
    /// Addresses the refresh found gone (see [`observe::GONE`]).
    gone: std::collections::BTreeSet<ResourceAddr>,
    /// Offer rankings of fleets, computed once per distinct requirements
    /// (keyed by their full `Debug` form: fleets that ask for the same
    /// resources share one ranking).
    rankings: std::collections::HashMap<String, std::sync::Arc<crate::cost::Ranking>>,
}

/// The entries of `map` that are children of `parent` (a fleet's instances,
/// a run's jobs), in address order; none for other kinds.
fn children_of<'m, V>(
    map: &'m BTreeMap<ResourceAddr, V>,
    parent: &ResourceAddr,
) -> impl Iterator<Item = (&'m ResourceAddr, &'m V)> {
    parent
        .children()
        .into_iter()
        .flat_map(move |range| map.range(range))
}

/// Which recorded rows a plan needs the spec of (for
/// [`dstack_state::ResourceStore::list_specs_where`]): a row whose stored
/// fingerprint equals its desired resource's is a no-op and its spec is the
/// desired one, so only rows that differ, are no longer configured, or are
/// runs and jobs (their status reads the run type) are parsed; with a
/// refresh (drift may recreate any row over its recorded spec), every row.
pub fn needs_recorded_spec<'d>(
    desired: &'d Desired,
    options: &PlanOptions,
) -> impl Fn(&ResourceAddr, &str) -> bool + 'd {
    let all = options.refresh || options.destroy;
    move |address: &ResourceAddr, fingerprint: &str| {
        all || matches!(address.kind(), ResourceKind::Run | ResourceKind::Job)
            || desired
                .resources
                .get(address)
                .is_none_or(|d| d.fingerprint != fingerprint)
    }
}

/// Makes the plan.
pub fn build_plan(input: &PlanInput) -> PlanDoc {
    let desired = if input.options.destroy {
        Desired::default()
    } else {
        build_desired(input.configs)
    };
    build_plan_with(input, desired)
}

/// Makes the plan from desired resources the caller already built from
/// `input.configs` (empty for a destroy), so they are built once.
pub fn build_plan_with(input: &PlanInput, desired: Desired) -> PlanDoc {
    let mut b = Builder::new(input, desired);
    b.observe_drift();
    b.build_graph();
    b.plan_top_level();
    b.plan_instances();
    b.plan_jobs();
    b.plan_deletions();
    b.apply_overrides();
    let mut cost = b.price();
    let orphans = b.orphans();
    let ghost: dstack_schemas::money::Usd =
        orphans.iter().filter_map(|o| o.rate).map(|r| r.0).sum();
    if !orphans.is_empty() {
        cost.ghost_hourly = Some(dstack_schemas::money::HourlyRate(ghost));
    }
    b.finish(cost, orphans)
}

impl<'a> Builder<'a> {
    fn new(input: &'a PlanInput<'a>, desired: Desired) -> Self {
        let recorded = input
            .recorded
            .iter()
            .map(|r| (r.address.clone(), r))
            .collect();
        Self {
            input,
            desired,
            recorded,
            graph: DesiredGraph::default(),
            changes: BTreeMap::new(),
            diagnostics: Vec::new(),
            drift: Vec::new(),
            gone: std::collections::BTreeSet::new(),
            rankings: std::collections::HashMap::new(),
        }
    }

    fn build_graph(&mut self) {
        let errors = std::mem::take(&mut self.desired.errors);
        for e in errors {
            self.error_at(e);
        }
        let mut known: std::collections::BTreeSet<ResourceAddr> =
            [ResourceAddr::Fleet(LOCAL_FLEET.into())]
                .into_iter()
                .collect();
        if self.input.scope == Scope::Files {
            known.extend(self.recorded.keys().cloned());
        }
        let (graph, errors) = build_graph(&mut self.desired, &known);
        self.graph = graph;
        for e in errors {
            self.error_at(e);
        }
        for address in self.recorded.keys() {
            self.graph.add(address);
            if let Some(parent) = address.parent() {
                self.graph.depend(address, &parent, None);
            }
        }
    }

    fn error_at(&mut self, e: DesiredError) {
        let location = e
            .origin
            .as_ref()
            .and_then(|o| locate(self.input.configs, o));
        let mut message = e.message;
        if let Some(also) = e.also.as_ref().and_then(|o| locate(self.input.configs, o)) {
            message = format!(
                "{message} (see also {}:{}:{})",
                also.file, also.line, also.column
            );
        }
        self.diagnostics.push(PlanDiagnostic {
            severity: "error".into(),
            code: e.code.into(),
            message,
            address: None,
            location,
            help: e.help,
        });
    }

    fn error(&mut self, code: &str, address: &ResourceAddr, message: String, help: Option<String>) {
        self.error_at_field(code, address, "/type", message, help);
    }

    /// An error about `address`, located at `pointer` of its configuration
    /// (falling back to its `type:` line).
    fn error_at_field(
        &mut self,
        code: &str,
        address: &ResourceAddr,
        pointer: &str,
        message: String,
        help: Option<String>,
    ) {
        let location = self
            .location_at(address, pointer)
            .or_else(|| self.location_of(address));
        self.diagnostics.push(PlanDiagnostic {
            severity: "error".into(),
            code: code.into(),
            message,
            address: Some(address.clone()),
            location,
            help,
        });
    }

    fn warning(
        &mut self,
        code: &str,
        address: Option<&ResourceAddr>,
        message: String,
        help: Option<String>,
    ) {
        let location = address.and_then(|a| self.location_of(a));
        self.diagnostics.push(PlanDiagnostic {
            severity: "warning".into(),
            code: code.into(),
            message,
            address: address.cloned(),
            location,
            help,
        });
    }

    fn location_of(&self, address: &ResourceAddr) -> Option<dstack_schemas::plan::SourceLocation> {
        self.location_at(address, "/type")
    }

    /// Where `pointer` of the configuration defining `address` is, if it is written.
    fn location_at(
        &self,
        address: &ResourceAddr,
        pointer: &str,
    ) -> Option<dstack_schemas::plan::SourceLocation> {
        let top = address.parent().unwrap_or_else(|| address.clone());
        let origin = self
            .desired
            .resources
            .get(&top)
            .and_then(|r| r.origin.clone())?;
        let config = self.input.configs.get(origin.config)?;
        config.spans.label(pointer)?;
        locate(
            self.input.configs,
            &crate::desired::Origin {
                config: origin.config,
                pointer: pointer.into(),
            },
        )
    }

    fn finish(mut self, cost: PlanCost, orphans: Vec<dstack_schemas::plan::Orphan>) -> PlanDoc {
        let changes = self.ordered_changes();
        let summary = summarize(&changes);
        let errored = self.diagnostics.iter().any(|d| d.severity == "error");
        let has_changes = changes.iter().any(ResourceChange::is_change);
        let reads = self.reads();
        let mut doc = PlanDoc {
            format_version: PLAN_FORMAT_VERSION.into(),
            plan_id: String::new(),
            created_at: String::new(),
            operation: if self.input.options.destroy {
                PlanOperation::Destroy
            } else {
                PlanOperation::Apply
            },
            applyable: has_changes && !errored,
            complete: !errored,
            errored,
            has_changes,
            lineage: self.input.lineage.to_string(),
            config_digest: self.input.config_digest.clone(),
            config_files: self
                .input
                .configs
                .iter()
                .map(|c| c.file.name().to_string())
                .collect(),
            config_scope: match self.input.scope {
                Scope::Project => "project".into(),
                Scope::Files => "files".into(),
            },
            catalog_version: self.input.market.catalog_version.clone(),
            summary,
            resource_changes: changes,
            resource_drift: std::mem::take(&mut self.drift),
            orphans,
            cost,
            diagnostics: std::mem::take(&mut self.diagnostics),
            reads,
            overrides: Vec::new(),
        };
        doc.plan_id = plan_id(&doc);
        doc.created_at = self.input.created_at.clone();
        doc
    }

    /// Creates and updates in dependency order, then deletes in reverse.
    fn ordered_changes(&mut self) -> Vec<ResourceChange> {
        let order = match self.graph.order() {
            Ok(order) => order,
            Err(_) => self.changes.keys().cloned().collect(),
        };
        let mut out: Vec<ResourceChange> = Vec::new();
        let mut deletes: Vec<ResourceChange> = Vec::new();
        for address in order {
            let Some(mut change) = self.changes.remove(&address) else {
                continue;
            };
            change.depends_on = self
                .graph
                .dependencies(&address)
                .into_iter()
                .filter(|d| d.name() != LOCAL_FLEET || d.kind() != ResourceKind::Fleet)
                .collect();
            if change.actions == [ActionWord::Delete] {
                deletes.push(change);
            } else {
                out.push(change);
            }
        }
        out.extend(self.changes.values().cloned());
        deletes.reverse();
        out.extend(deletes);
        out
    }

    fn reads(&self) -> Vec<ReadVersion> {
        let mut addresses: Vec<&ResourceAddr> = self.recorded.keys().collect();
        addresses.extend(self.desired.resources.keys());
        addresses.sort();
        addresses.dedup();
        let versions: BTreeMap<&ResourceAddr, u64> = self
            .input
            .recorded
            .iter()
            .map(|r| (&r.address, r.version))
            .collect();
        addresses
            .into_iter()
            .map(|a| ReadVersion {
                address: a.clone(),
                version: versions.get(a).copied(),
            })
            .collect()
    }
}

fn summarize(changes: &[ResourceChange]) -> Summary {
    let mut s = Summary::default();
    for c in changes {
        match c.verb() {
            ChangeVerb::Create => s.add += 1,
            ChangeVerb::Update => s.change += 1,
            ChangeVerb::Replace => s.replace += 1,
            ChangeVerb::Delete => s.destroy += 1,
            _ => s.no_op += 1,
        }
    }
    s
}

/// Feeds serialised bytes straight into SHA-256.
struct HashWriter(sha2::Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A plan's id: digest of its content, taken before the id and the time are
/// stamped on it. The document's field order is fixed by its types, so its
/// JSON is canonical.
fn plan_id(doc: &PlanDoc) -> String {
    // Buffered: the serialiser writes many tiny pieces, SHA-256 likes blocks.
    let mut hasher = std::io::BufWriter::with_capacity(
        1 << 16,
        HashWriter(<sha2::Sha256 as sha2::Digest>::new()),
    );
    let _ = serde_json::to_writer(&mut hasher, doc);
    let _ = std::io::Write::flush(&mut hasher);
    let (mut hasher, unwritten) = hasher.into_parts();
    if let Ok(rest) = unwritten {
        sha2::Digest::update(&mut hasher.0, rest);
    }
    let d = hex::encode(sha2::Digest::finalize(hasher.0));
    format!("plan-{}", &d[..12])
}
