//! Command-line syntax of the resource commands (`fleet`, `volume`,
//! `gateway`, `delete`) and of `completion`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Options of a resource list (`dstack fleet [list]`, ...).
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Refresh every 2 seconds.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// More columns: backend ids, and the jobs on a fleet's instances or
    /// what uses a volume or gateway.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// The versioned JSON document (`dstack schema resources`).
    #[arg(long)]
    pub json: bool,
}

/// Options of `get NAME`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// Name.
    pub name: String,
    /// The versioned JSON document (`dstack schema resource`).
    #[arg(long)]
    pub json: bool,
}

/// Options of `delete NAME`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Name.
    pub name: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// `dstack fleet ...`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Fleets with their instances (the default).
    List(ListArgs),
    /// One fleet: its instances with status, resources, price, backend,
    /// region and the jobs on them.
    Get(GetArgs),
    /// Delete a fleet, or only some of its instances (`-i`), as
    /// `destroy --target` does.
    Delete {
        /// What to delete.
        #[command(flatten)]
        args: DeleteArgs,
        /// Only these instances (their numbers; repeatable).
        #[arg(short = 'i', long = "instance", value_name = "NUM")]
        instances: Vec<u32>,
    },
    /// dstack's older spelling of `fleet delete NAME -i NUM`.
    DeleteInstance {
        /// What to delete.
        #[command(flatten)]
        args: DeleteArgs,
        /// Instance numbers.
        #[arg(short = 'i', long = "instance", value_name = "NUM", required = true)]
        instances: Vec<u32>,
    },
}

/// `dstack volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Volumes (the default).
    List(ListArgs),
    /// One volume.
    Get(GetArgs),
    /// Delete a volume, as `destroy --target volume/NAME` does.
    Delete(DeleteArgs),
}

/// `dstack gateway ...`.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Gateways (the default).
    List(ListArgs),
    /// One gateway.
    Get(GetArgs),
    /// Delete a gateway, as `destroy --target gateway/NAME` does.
    Delete(DeleteArgs),
    /// dstack's in-place change of a gateway (needs a dstack server: in
    /// embedded mode edit `default:`/`domain:` in its file and apply).
    Update {
        /// Name.
        name: String,
        /// Make it the project's default gateway.
        #[arg(long)]
        set_default: bool,
        /// New domain (deprecated in dstack).
        #[arg(long)]
        domain: Option<String>,
    },
}

/// `dstack delete -f FILE`.
#[derive(Debug, Clone, Args)]
pub struct DeleteFileArgs {
    /// Configuration files or directories whose resources to delete.
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}
