//! Command-line syntax (clap). Every flag is documented here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::exit_codes;
use dstack_schemas::money::Usd;

/// dstack in Rust: declarative GPU infrastructure with plans you can trust.
#[derive(Debug, Parser)]
#[command(name = "dstack", version, about, after_help = exit_code_help())]
#[command(disable_version_flag = true)]
pub struct Cli {
    /// Print the version.
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Project directory (configs, `.dstack/state.db`, `.dstack/backends.yml`).
    #[arg(long, global = true, env = "DSTACK_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// State database (default: `<project-dir>/.dstack/state.db`).
    #[arg(long, global = true, env = "DSTACK_STATE")]
    pub state: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

fn exit_code_help() -> String {
    let mut help = String::from("Exit codes:\n");
    for (code, meaning) in exit_codes::ALL {
        help.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    help
}

impl Cli {
    /// Parses `std::env::args`, exiting with [`exit_codes::USAGE`] on bad usage.
    pub fn parse_args() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(err) => {
                let code = if err.use_stderr() {
                    exit_codes::USAGE
                } else {
                    exit_codes::OK
                };
                let _ = err.print();
                std::process::exit(code);
            }
        }
    }
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs (versioned).
    Json,
}

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people (Terraform-style).
    Text,
    /// The versioned plan document (`dstack schema plan`).
    Json,
    /// A pull-request comment.
    Markdown,
}

/// Options shared by `plan`, `apply` and `destroy`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Only these configuration files or directories (nothing outside them
    /// is deleted).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Replace this resource even if unchanged (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<ResourceAddr>,
    /// Fail instead of replacing anything.
    #[arg(long)]
    pub no_recreate: bool,
    /// Ask the providers what exists and report drift.
    #[arg(long)]
    pub refresh: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check configuration files and report every problem with its place.
    Validate {
        /// Files or directories (default: the project directory).
        #[arg(short = 'f', long = "file")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Print the JSON Schema of a configuration type, or of the plan.
    Schema {
        /// `configuration` (any type), a type such as `task`, `workflows`, or `plan`.
        #[arg(default_value = "configuration")]
        name: String,
    },
    /// Show what apply would change, why, and what it costs.
    Plan {
        /// Plan options.
        #[command(flatten)]
        args: PlanArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
        /// Save the plan to apply it exactly later (`dstack apply FILE`).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 2 when there are changes, 10 when there is only drift.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the deletion of everything recorded.
        #[arg(long)]
        destroy: bool,
        /// Per-run overrides (shown in the plan as "from the command line").
        #[command(flatten)]
        overrides: crate::overrides::RunOverrides,
    },
    /// Make the infrastructure match the configuration (or apply a saved plan).
    #[command(disable_help_flag = true)]
    Apply {
        /// Print help; `-h TYPE` (e.g. `-h task`) lists that configuration
        /// type's fields.
        #[arg(short = 'h', long = "help", value_name = "TYPE")]
        help: Option<Option<String>>,
        /// A plan saved with `dstack plan -o FILE`.
        plan_file: Option<PathBuf>,
        /// Plan options (ignored with a saved plan).
        #[command(flatten)]
        args: PlanArgs,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Steps running at once (1 to 1000).
        #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
        parallelism: usize,
        /// Wait this long for the state lock (e.g. `30s`, `5m`).
        #[arg(long, default_value = "0s", value_parser = parse_lock_timeout)]
        lock_timeout: std::time::Duration,
        /// Do not attach to the runs started (issue logs with `dstack logs`).
        #[arg(short = 'd', long = "detach")]
        detach: bool,
        /// Run the configured runs again even if unchanged (the same as
        /// `--replace run/NAME` for each).
        #[arg(long)]
        force: bool,
        /// Per-run overrides (shown in the plan as "from the command line").
        #[command(flatten)]
        overrides: crate::overrides::RunOverrides,
    },
    /// Delete everything recorded (or only `--target`s), in reverse order.
    Destroy {
        /// Only these and what depends on them (repeatable).
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<ResourceAddr>,
        /// Instead: delete resources tagged as ours that state does not know.
        #[arg(long)]
        orphans: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Steps running at once (1 to 1000).
        #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
        parallelism: usize,
        /// Wait this long for the state lock.
        #[arg(long, default_value = "0s", value_parser = parse_lock_timeout)]
        lock_timeout: std::time::Duration,
    },
    /// Inspect and repair recorded state.
    State {
        /// What to do.
        #[command(subcommand)]
        command: StateCommand,
    },
    /// List offers that match resources, cheapest first.
    Offer(OfferArgs),
    /// List runs (unfinished ones, or the last finished one).
    Ps {
        /// Every run.
        #[arg(short = 'a', long)]
        all: bool,
        /// The last N runs (at least 1).
        #[arg(short = 'n', long = "last", value_parser = parse_count)]
        last: Option<usize>,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Refresh every 2 seconds.
        #[arg(short = 'w', long)]
        watch: bool,
        /// Every job with its instance, resources, backend, region, price,
        /// submissions and why it ended.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Print a run's log (follow it with -f).
    Logs {
        /// Run name.
        run: String,
        /// Keep printing new lines until the job ends.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Job number (multi-node tasks, replicas); with `--replica`, the
        /// job of that replica.
        #[arg(long, default_value_t = 0, value_parser = parse_job, allow_negative_numbers = true)]
        job: u32,
        /// Replica number (services).
        #[arg(long, value_parser = parse_job, allow_negative_numbers = true)]
        replica: Option<u32>,
        /// Only lines from this long ago (`10m`, `2h`) or since this time
        /// (RFC 3339, `2026-11-23T10:00:00Z`).
        #[arg(long, value_name = "WHEN", value_parser = crate::commands::since::parse_since)]
        since: Option<std::time::SystemTime>,
        /// Which submission's log: 0 is the job's first run, 1 the next
        /// (after `--replace` or a changed configuration ran it again), ...;
        /// the latest by default.
        #[arg(long, value_name = "N")]
        submission: Option<u32>,
        /// Also print the runner's own lines (pulling, exit, stop).
        #[arg(short = 'd', long)]
        diagnose: bool,
    },
    /// Stop runs (gracefully, or at once with --abort).
    Stop {
        /// Run names.
        #[arg(required = true)]
        runs: Vec<String>,
        /// Kill without the graceful stop.
        #[arg(short = 'x', long)]
        abort: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Give up waiting for the runs to end after this long (1s to 24h),
        /// saying where each still is; the stop goes on without us.
        #[arg(long, default_value = "60s", value_parser = parse_stop_timeout)]
        timeout: std::time::Duration,
    },
    /// Follow a run's log from now (`--logs`: from the start) and show its
    /// ports, until it ends or Ctrl+C (which asks whether to stop the run).
    Attach {
        /// Run name.
        run: String,
        /// Job number (with `--replica`, the job of that replica).
        #[arg(long, default_value_t = 0, value_parser = parse_job, allow_negative_numbers = true)]
        job: u32,
        /// Replica number (services).
        #[arg(long, value_parser = parse_job, allow_negative_numbers = true)]
        replica: Option<u32>,
        /// Print the log so far first, then follow.
        #[arg(long)]
        logs: bool,
        /// Print the log from this long ago (`10m`) or this time (RFC 3339)
        /// first, then follow.
        #[arg(long, value_name = "WHEN", value_parser = crate::commands::since::parse_since)]
        since: Option<std::time::SystemTime>,
        /// Also print the runner's own lines.
        #[arg(short = 'd', long)]
        diagnose: bool,
    },
    /// Run a 2022 workflow of .dstack/workflows.yaml (and its deps), or
    /// inspect a run with `dstack run get NAME`.
    #[command(
        after_help = "`dstack run get NAME [--json]` shows run NAME (spec, status, jobs).\n\
                      `dstack run get` with no NAME runs the workflow named `get`."
    )]
    Run {
        /// Workflow name (or `get`, followed by the run to show).
        workflow: String,
        /// With `get`: the run to show.
        run: Option<String>,
        /// With `get NAME`: the versioned JSON document (`dstack schema run`).
        #[arg(long)]
        json: bool,
        /// Set a variable (repeatable), e.g. `--var rows=100`.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Jobs running at once (1 to 1000); a job waits for a free slot
        /// once its deps are done.
        #[arg(long, default_value_t = 10, value_parser = parse_parallelism)]
        parallelism: usize,
    },
    /// Artifacts saved by workflow runs.
    Artifacts {
        /// What to do.
        #[command(subcommand)]
        command: ArtifactsCommand,
    },
    /// Fleets: list, get, delete (instances too).
    Fleet {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<crate::cli_resources::FleetCommand>,
        /// Options of the default list.
        #[command(flatten)]
        list: crate::cli_resources::ListArgs,
    },
    /// Volumes: list, get, delete.
    Volume {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<crate::cli_resources::VolumeCommand>,
        /// Options of the default list.
        #[command(flatten)]
        list: crate::cli_resources::ListArgs,
    },
    /// Gateways: list, get, delete, update.
    Gateway {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<crate::cli_resources::GatewayCommand>,
        /// Options of the default list.
        #[command(flatten)]
        list: crate::cli_resources::ListArgs,
    },
    /// Delete the resources the files define (like `destroy --target` of each).
    Delete(crate::cli_resources::DeleteFileArgs),
    /// Print a shell completion script (`dstack completion bash > ...`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The job runner daemon (started by the CLI when needed).
    #[command(hide = true)]
    Runner {
        /// `serve --dir DIR [--listen ADDR] [--token-file FILE]`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Most steps an apply runs at once.
pub const MAX_PARALLELISM: usize = 1000;

fn parse_parallelism(text: &str) -> Result<usize, String> {
    let n = parse_count(text)?;
    if n > MAX_PARALLELISM {
        return Err(format!("must be at most {MAX_PARALLELISM}"));
    }
    Ok(n)
}

/// How long `stop` waits: 1s to 24h.
fn parse_stop_timeout(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30s, 5m)"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    if d > std::time::Duration::from_secs(24 * 3600) {
        return Err("must be at most 24h".into());
    }
    Ok(d)
}

/// A count of things: a whole number, 1 or more.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("not a whole number (e.g. 10)".into()),
    }
}

/// Prices above this are not prices (and would not fit in micro-dollars).
const MAX_PRICE_DOLLARS: f64 = 1e9;

/// A job number: 0 or more.
pub(crate) fn parse_job(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| "not a job number (0, 1, ...; `dstack ps` shows a run's jobs)".into())
}

/// How long to wait for the state lock (`0s`: not at all).
fn parse_lock_timeout(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 0s, 30s, 5m)"))
}

/// Dollars per hour: a finite number, 0 or more (`1.5`, `$1.5`).
fn parse_max_price(text: &str) -> Result<Usd, String> {
    let number = text.trim().strip_prefix('$').unwrap_or(text.trim());
    let dollars: f64 = number
        .parse()
        .map_err(|_| "not a number of dollars per hour (e.g. 1.5)".to_string())?;
    if !dollars.is_finite() {
        return Err("must be a finite number of dollars per hour".into());
    }
    if dollars < 0.0 {
        return Err("must not be negative".into());
    }
    Usd::from_dollars_f64(dollars)
        .filter(|p| p.as_dollars_f64() < MAX_PRICE_DOLLARS)
        .ok_or_else(|| format!("must be below ${MAX_PRICE_DOLLARS}/h"))
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("`{text}` has no name before `=`"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// `dstack artifacts ...`.
#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// What a run saved.
    List {
        /// Run name.
        run: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Copy a run's artifacts to a directory.
    Download {
        /// Run name.
        run: String,
        /// Only this workflow's.
        #[arg(short = 'w', long)]
        workflow: Option<String>,
        /// Destination (default: `./RUN`).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

/// `dstack state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Every recorded resource.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// One recorded resource, in full.
    Show {
        /// Address, e.g. `fleet/gpu-pool/instance/0`.
        address: ResourceAddr,
    },
    /// Forget a resource (the cloud resource itself is not deleted).
    Rm {
        /// Address.
        address: ResourceAddr,
    },
    /// Break the state lock (only when its holder is gone).
    Unlock {
        /// Lock id, as shown by the error that named the holder.
        id: String,
    },
    /// Past applies, newest first.
    History {
        /// How many (at least 1).
        #[arg(short = 'n', long, default_value_t = 20, value_parser = parse_count)]
        limit: usize,
    },
}

/// `dstack offer`.
#[derive(Debug, Clone, Args)]
pub struct OfferArgs {
    /// GPUs, e.g. `A100:80GB:2`, `24GB..`.
    #[arg(long)]
    pub gpu: Option<String>,
    /// CPUs, e.g. `8`, `4..`.
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory, e.g. `32GB..`.
    #[arg(long)]
    pub memory: Option<String>,
    /// Disk, e.g. `100GB..`.
    #[arg(long)]
    pub disk: Option<String>,
    /// `spot`, `on-demand` or `auto`.
    #[arg(long, default_value = "auto", conflicts_with_all = ["spot", "on_demand", "spot_auto"])]
    pub spot_policy: String,
    /// `--spot`, `--on-demand`, `--spot-auto`.
    #[command(flatten)]
    pub spot: crate::overrides::SpotSwitches,
    /// Only these instance types (repeatable).
    #[arg(long = "instance-type", value_name = "NAME")]
    pub instance_types: Vec<String>,
    /// `plain` or `json` (the same as `--json`).
    #[arg(long, value_name = "FORMAT", value_parser = ["plain", "json"])]
    pub format: Option<String>,
    /// Highest $/h, e.g. `1.5` (a finite number, 0 or more).
    #[arg(long, value_parser = parse_max_price, allow_negative_numbers = true)]
    pub max_price: Option<Usd>,
    /// Only these backends (repeatable).
    #[arg(short = 'b', long = "backend")]
    pub backends: Vec<String>,
    /// Only these regions (repeatable).
    #[arg(short = 'r', long = "region")]
    pub regions: Vec<String>,
    /// How many to show (at least 1; groups with --group-by).
    #[arg(long, default_value_t = 20, value_parser = parse_count)]
    pub max_offers: usize,
    /// One row per GPU, backend or region (price range, count, spot).
    #[arg(long, value_enum)]
    pub group_by: Option<crate::commands::offer_table::GroupBy>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}
