//! An in-process project for tests and benchmarks: configurations from
//! text, a fake cloud, a fake job runtime and a memory state store, with
//! `plan` and `apply` as the CLI runs them (minus the IO at the edges).

use std::collections::BTreeMap;
use std::sync::Arc;

use dstack_provider::Provider;
use dstack_provider::fake::FakeProvider;
use dstack_schemas::config::load_config;
use dstack_schemas::offer::Offer;
use dstack_schemas::plan::PlanDoc;
use dstack_state::StateStore;
use dstack_state::mem::MemStore;

use crate::apply::{ApplyContext, ApplyReport, FakeRuntime, apply_plan};
use dstack_planner::desired::ProjectConfig;
use dstack_planner::market::{Market, Observed};
use dstack_planner::plan::{PlanInput, PlanOptions, Scope, build_plan_with, needs_recorded_spec};

/// A project living in memory.
pub struct TestProject {
    /// State.
    pub state: Arc<dyn StateStore>,
    /// The fake cloud (backend `aws`).
    pub cloud: Arc<FakeProvider>,
    /// Its offers.
    pub offers: Vec<Offer>,
    /// Steps at once.
    pub parallelism: usize,
}

/// The shipped AWS catalog's offers in `region` (what the test cloud sells).
pub fn shipped_offers(region: &str) -> Vec<Offer> {
    dstack_provider::catalog::shipped()
        .offers("aws")
        .into_iter()
        .filter(|o| o.region == region)
        .collect()
}

/// Reads configuration texts (`(file name, YAML)`); panics on invalid ones.
pub fn configs(files: &[(String, String)]) -> Vec<ProjectConfig> {
    files
        .iter()
        .map(|(name, text)| {
            let loaded = load_config(name, text.as_bytes());
            let config = loaded
                .config()
                .cloned()
                .unwrap_or_else(|| panic!("{name} is invalid: {:?}\n{text}", loaded.diagnostics));
            ProjectConfig {
                file: loaded.file.clone(),
                spans: loaded.spans.clone(),
                config,
            }
        })
        .collect()
}

impl TestProject {
    /// A project whose cloud sells `offers` (as backend `aws`), answering
    /// after `latency`.
    pub fn new(offers: Vec<Offer>, latency: std::time::Duration) -> Self {
        let cloud = Arc::new(FakeProvider::new("aws", offers.clone()).with_latency(latency));
        Self {
            state: Arc::new(MemStore::new()),
            cloud,
            offers,
            parallelism: 10,
        }
    }

    /// The market the planner sees.
    pub fn market(&self) -> Market {
        Market {
            offers: self
                .offers
                .iter()
                .cloned()
                .map(|mut o| {
                    o.backend = "aws".into();
                    o
                })
                .collect(),
            local: None,
            prices: BTreeMap::new(),
            catalog_version: "test".into(),
            failures: Vec::new(),
            backends: ["aws".to_string()].into_iter().collect(),
        }
    }

    /// Plans `configs` against the recorded state, as `dstack plan` does:
    /// rows are listed with only the specs the plan needs.
    pub fn plan(&self, configs: &[ProjectConfig], options: &PlanOptions) -> PlanDoc {
        let desired = if options.destroy {
            dstack_planner::desired::Desired::default()
        } else {
            dstack_planner::desired::build_desired(configs)
        };
        let recorded = self
            .state
            .list_specs_where(&needs_recorded_spec(&desired, options))
            .expect("state lists");
        self.plan_against(configs, options, &recorded, desired)
    }

    /// Plans `configs` against every recorded row read in full.
    pub fn plan_full(&self, configs: &[ProjectConfig], options: &PlanOptions) -> PlanDoc {
        let recorded = self.state.list().expect("state lists");
        let desired = if options.destroy {
            dstack_planner::desired::Desired::default()
        } else {
            dstack_planner::desired::build_desired(configs)
        };
        self.plan_against(configs, options, &recorded, desired)
    }

    fn plan_against(
        &self,
        configs: &[ProjectConfig],
        options: &PlanOptions,
        recorded: &[dstack_state::RecordedResource],
        desired: dstack_planner::desired::Desired,
    ) -> PlanDoc {
        let lineage = self.state.lineage().expect("lineage");
        let market = self.market();
        let observed = Observed::default();
        let input = PlanInput {
            configs,
            config_digest: "test".into(),
            scope: Scope::Project,
            recorded,
            lineage: &lineage,
            market: &market,
            observed: &observed,
            options,
            created_at: "2026-11-23T00:00:00Z".into(),
        };
        build_plan_with(&input, desired)
    }

    /// Applies a plan with the fake cloud and runtime.
    pub async fn apply(&self, plan: &PlanDoc, configs: &[ProjectConfig]) -> ApplyReport {
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert("aws".into(), self.cloud.clone());
        let ctx = ApplyContext {
            state: self.state.clone(),
            providers,
            runtime: Arc::new(FakeRuntime::new()),
            project: "test".into(),
            lineage: self.state.lineage().expect("lineage"),
            parallelism: self.parallelism,
            configs: configs.to_vec(),
            holder: "test@localhost".into(),
            cancel: crate::apply::Cancel::new(),
            events: None,
            instance_user_data: None,
        };
        apply_plan(plan, &ctx).await.expect("state accepts writes")
    }
}
