//! The composition root: the project directory, its configurations, its
//! state store, its backends (the only place concrete providers are
//! named), the offers they sell and what they hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dstack_engine::apply::{FakeRuntime, JobRuntime};
use dstack_engine::runtime::submission::LocalMode;
use dstack_engine::runtime::{RunnerRuntime, RuntimeSettings};
use dstack_planner::desired::ProjectConfig;
use dstack_planner::fingerprint::digest;
use dstack_planner::market::{Market, Observed};
use dstack_planner::plan::Scope;
use dstack_provider::Provider;
use dstack_provider::fake::{FailureRule, FakeProvider};
use dstack_provider_local::{LocalProvider, MachineOverride, detect_machine};
use dstack_runner::api::PullPolicy;
use dstack_schemas::backends::{BackendConfig, BackendsFile, LocalConfig, load_backends};
use dstack_schemas::config::ConfigDocument;
use dstack_schemas::offer::Catalog;
use dstack_state::StateStore;
use dstack_state::mem::MemStore;
use dstack_state::sqlite::SqliteStore;

use crate::error::CliError;
use crate::project::{ProjectFile, discover, load_files};
use crate::render::{color_enabled, diagnostic_text};

/// Global options every project command takes.
#[derive(Debug, Clone)]
pub struct ProjectOptions {
    /// Project directory.
    pub dir: PathBuf,
    /// State database (default `<dir>/.dstack/state.db`).
    pub state: Option<PathBuf>,
}

/// An opened project.
pub struct Project {
    /// Directory.
    pub dir: PathBuf,
    /// Name (a tag on cloud resources).
    pub name: String,
    /// Recorded state.
    pub state: Arc<dyn StateStore>,
    /// The state file.
    pub state_file: StateFile,
    /// Backend settings.
    pub backends: BackendsFile,
}

/// Where state lives, and its file when there is one.
pub struct StateFile {
    /// The database path (`--state`, default `<dir>/.dstack/state.db`).
    pub path: PathBuf,
    /// The open database; `None` when there is no file yet and the command
    /// only reads (it then reads empty state, in memory).
    sqlite: Option<Arc<SqliteStore>>,
}

impl StateFile {
    /// Where the copy taken at the start of each apply or destroy goes.
    pub fn backup_path(&self) -> PathBuf {
        crate::backup::backup_path(&self.path)
    }

    /// Copies the state to [`Self::backup_path`] (nothing to copy without a
    /// file). Every page is read, so a damaged state fails here, before
    /// anything changes, and the last good copy stays.
    pub fn backup(&self) -> Result<(), CliError> {
        match &self.sqlite {
            Some(store) => Ok(store.backup_to(&self.backup_path())?),
            None => Ok(()),
        }
    }
}

/// What a command does to the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAccess<'a> {
    /// Reads it, and keeps what it learns (job statuses, log lines) when
    /// it may: a missing file is empty state and is not created; a file this
    /// process may not write is opened read-only.
    Read,
    /// Changes it (apply, destroy, run): a missing file is created, with
    /// this lineage when given (a saved plan made against no state); a file
    /// that may not be written is an error.
    Change {
        /// Lineage for a state created now.
        lineage: Option<&'a str>,
    },
}

impl Project {
    /// Opens the project to read its state: backends file and state store.
    pub fn open(options: &ProjectOptions) -> Result<Self, CliError> {
        Self::open_with(options, StateAccess::Read)
    }

    /// Opens the project to change its state (creating it if missing).
    pub fn open_to_change(
        options: &ProjectOptions,
        lineage: Option<&str>,
    ) -> Result<Self, CliError> {
        Self::open_with(options, StateAccess::Change { lineage })
    }

    /// Opens the project: backends file and state store.
    pub fn open_with(options: &ProjectOptions, access: StateAccess<'_>) -> Result<Self, CliError> {
        let dir = options.dir.clone();
        if !dir.is_dir() {
            return Err(CliError::Usage(format!(
                "project directory {} does not exist",
                dir.display()
            )));
        }
        let backends = read_backends(&dir)?;
        let path = options
            .state
            .clone()
            .unwrap_or_else(|| dir.join(".dstack").join("state.db"));
        let (state, sqlite) = open_state(&path, access)?;
        let name = std::env::var("DSTACK_PROJECT").ok().unwrap_or_else(|| {
            dir.canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "default".into())
        });
        Ok(Self {
            dir,
            name,
            state,
            state_file: StateFile { path, sqlite },
            backends,
        })
    }

    /// `.dstack/` of the project.
    pub fn dot_dstack(&self) -> PathBuf {
        self.dir.join(".dstack")
    }

    /// Every provider configured, by backend name (`local` always).
    pub fn providers(&self) -> Result<BTreeMap<String, Arc<dyn Provider>>, CliError> {
        let mut out: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        out.insert(
            "local".into(),
            Arc::new(LocalProvider::new(self.dot_dstack().join("volumes"))),
        );
        for backend in &self.backends.backends {
            let provider: Arc<dyn Provider> = match backend {
                BackendConfig::Fake(fake) => Arc::new(self.fake_provider(fake)?),
                BackendConfig::Aws(aws) => aws_provider(aws, &self.name, &self.dot_dstack())?,
            };
            out.insert(backend.name().to_string(), provider);
        }
        Ok(out)
    }

    fn fake_provider(
        &self,
        fake: &dstack_schemas::backends::FakeConfig,
    ) -> Result<FakeProvider, CliError> {
        let offers = match &fake.catalog {
            Some(path) => {
                let full = self.dot_dstack().join(path);
                let text = dstack_engine::files::read_text(&full).map_err(CliError::file)?;
                let catalog = Catalog::from_json(&text)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", full.display())))?;
                let mut offers = Vec::new();
                for backend in catalog
                    .items
                    .iter()
                    .map(|i| i.backend.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                {
                    offers.extend(catalog.offers(&backend));
                }
                offers
            }
            None => dstack_provider::catalog::shipped().offers("aws"),
        };
        let failures: Vec<FailureRule> = fake
            .failures
            .iter()
            .map(|f| serde_json::from_value(f.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                CliError::Usage(format!(".dstack/backends.yml: bad fake failure rule: {e}"))
            })?;
        let mut provider = FakeProvider::new(&fake.name, offers)
            .with_latency(std::time::Duration::from_millis(fake.latency_ms))
            .with_failures(failures);
        if let Some(file) = &fake.state_file {
            provider = provider.with_state_file(self.dot_dstack().join(file));
        }
        Ok(provider)
    }

    /// Non-machine prices and the catalog version.
    pub fn catalog(&self) -> Result<Catalog, CliError> {
        let mut catalog = dstack_provider::catalog::shipped();
        for backend in &self.backends.backends {
            if let BackendConfig::Fake(fake) = backend
                && let Some(path) = &fake.catalog
            {
                let text = dstack_engine::files::read_text(&self.dot_dstack().join(path))
                    .map_err(CliError::file)?;
                let own = Catalog::from_json(&text).map_err(|e| CliError::Usage(e.to_string()))?;
                catalog.catalog_version = own.catalog_version.clone();
                for mut prices in own.backends {
                    prices.backend = fake.name.clone();
                    catalog.backends.retain(|b| b.backend != prices.backend);
                    catalog.backends.push(prices);
                }
            }
        }
        Ok(catalog)
    }

    /// The runtime jobs run through.
    pub fn runtime(&self) -> Arc<dyn JobRuntime> {
        match self.backends.local.runtime.as_str() {
            "fake" => Arc::new(FakeRuntime::new()),
            "fake-long" => Arc::new(FakeRuntime::long_running()),
            _ => Arc::new(RunnerRuntime::new(self.runtime_settings())),
        }
    }

    /// What the engine's runner runtime is told about this project.
    pub fn runtime_settings(&self) -> RuntimeSettings {
        let volumes = std::path::absolute(self.dot_dstack().join("volumes"))
            .unwrap_or_else(|_| self.dot_dstack().join("volumes"));
        let local = LocalProvider::new(&volumes);
        RuntimeSettings {
            project_dir: self.dir.clone(),
            dot_dstack: self.dot_dstack(),
            mode: LocalMode::from_word(&self.backends.local.runtime),
            pull_policy: PullPolicy::from_word(&self.backends.local.pull_policy)
                .unwrap_or_default(),
            local_volume_dir: Box::new(move |id| local.volume_dir(id)),
            output: Arc::new(crate::output::Terminal),
        }
    }
}

/// The AWS backend; private keys of key pairs it creates go to `.dstack/ssh/`.
#[cfg(feature = "aws")]
fn aws_provider(
    config: &dstack_schemas::backends::AwsConfig,
    project: &str,
    dot_dstack: &Path,
) -> Result<Arc<dyn Provider>, CliError> {
    let provider = dstack_provider_aws::AwsProvider::new(config.clone(), project)
        .map_err(|e| CliError::Usage(format!(".dstack/backends.yml: {e}")))?
        .with_key_dir(dot_dstack.join("ssh"));
    Ok(Arc::new(provider))
}

#[cfg(not(feature = "aws"))]
fn aws_provider(
    _config: &dstack_schemas::backends::AwsConfig,
    _project: &str,
    _dot_dstack: &Path,
) -> Result<Arc<dyn Provider>, CliError> {
    Err(CliError::Usage(
        "the aws backend is configured, but this dstack was built without it; build with `cargo release-build` or `--features aws`".into(),
    ))
}

type OpenedState = (Arc<dyn StateStore>, Option<Arc<SqliteStore>>);

fn open_state(path: &Path, access: StateAccess<'_>) -> Result<OpenedState, CliError> {
    let sqlite = match access {
        StateAccess::Change { lineage } => SqliteStore::open_or_create(path, lineage)?,
        StateAccess::Read if !path.exists() => return Ok((Arc::new(MemStore::new()), None)),
        StateAccess::Read => SqliteStore::open_existing(path)?,
    };
    if sqlite.is_read_only() {
        errln!(
            "note: state at {} is read-only here (permission denied); what this command learns (job statuses, log lines) is not kept",
            path.display()
        );
    }
    let sqlite = Arc::new(sqlite);
    Ok((sqlite.clone(), Some(sqlite)))
}

fn read_backends(dir: &Path) -> Result<BackendsFile, CliError> {
    let path = dir.join(".dstack").join("backends.yml");
    let Some(bytes) = dstack_engine::files::read_optional(&path).map_err(CliError::file)? else {
        return Ok(BackendsFile::default());
    };
    let (parsed, file, diags) = load_backends(&path.display().to_string(), &bytes);
    let color = color_enabled();
    for d in &diags {
        errln!("{}", diagnostic_text(&file, d, color));
    }
    parsed.ok_or(CliError::InvalidConfig)
}

/// The project's valid configurations, the scope they give, and a digest
/// of the files. Invalid files are rendered and end the command.
pub fn load_configs(
    project: &Project,
    files: &[PathBuf],
) -> Result<(Vec<ProjectConfig>, Scope, String), CliError> {
    let scope = if files.is_empty() {
        Scope::Project
    } else {
        Scope::Files
    };
    let paths = discover(&project.dir, files)?;
    let loaded: Vec<ProjectFile> = load_files(&paths)?;
    let color = color_enabled();
    let mut invalid = false;
    let mut configs = Vec::new();
    let mut hasher_input = Vec::new();
    for file in &loaded {
        for d in &file.loaded.diagnostics {
            errln!("{}", diagnostic_text(&file.loaded.file, d, color));
        }
        invalid |= file.loaded.has_errors();
        if let Some(ConfigDocument::Config(config)) = &file.loaded.document {
            hasher_input.extend_from_slice(file.loaded.file.name().as_bytes());
            hasher_input.push(0);
            hasher_input.extend_from_slice(file.loaded.file.text().as_bytes());
            hasher_input.push(0);
            configs.push(ProjectConfig {
                file: file.loaded.file.clone(),
                spans: file.loaded.spans.clone(),
                config: config.clone(),
            });
        }
    }
    if invalid {
        return Err(CliError::InvalidConfig);
    }
    Ok((configs, scope, digest(&hasher_input)))
}

/// Offers of every configured backend, this machine, and prices.
pub async fn gather_market(
    project: &Project,
    providers: &BTreeMap<String, Arc<dyn Provider>>,
) -> Result<Market, CliError> {
    let catalog = project.catalog()?;
    let mut market = Market {
        catalog_version: catalog.catalog_version.clone(),
        prices: catalog
            .backends
            .iter()
            .map(|b| (b.backend.clone(), b.clone()))
            .collect(),
        ..Market::default()
    };
    for (name, provider) in providers {
        if name == "local" {
            continue;
        }
        market.backends.insert(name.clone());
        match provider.offers().await {
            Ok(offers) => market.offers.extend(offers),
            Err(e) => market.failures.push((name.clone(), e.to_string())),
        }
    }
    market.local = local_offer(&project.backends.local);
    Ok(market)
}

fn local_offer(local: &LocalConfig) -> Option<dstack_schemas::offer::Offer> {
    local.enabled.then(|| {
        detect_machine(&MachineOverride {
            cpus: local.cpus,
            memory: local.memory,
            gpu: local.gpu.clone(),
        })
    })
}

/// One listing sweep per provider.
pub async fn sweep(providers: &BTreeMap<String, Arc<dyn Provider>>) -> Observed {
    let mut observed = Observed::default();
    for (name, provider) in providers {
        match provider.list_owned().await {
            Ok(resources) => {
                observed.swept.insert(name.clone());
                observed
                    .resources
                    .extend(resources.into_iter().map(|r| (name.clone(), r)));
            }
            Err(e) => observed.failures.push((name.clone(), e.to_string())),
        }
    }
    observed
}

/// "Now" for plans: `DSTACK_NOW` (tests pin it) or the clock.
pub fn now_rfc3339() -> String {
    std::env::var("DSTACK_NOW").unwrap_or_else(|_| {
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
    })
}
