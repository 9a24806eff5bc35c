//! The daemon's command line: `serve --dir DIR [--listen ADDR]
//! [--token TOKEN | --token-file FILE]`. A missing token file is created
//! with a fresh random token (mode 0600).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use super::{RunnerConfig, serve, store};

/// The dstack job runner.
#[derive(Debug, Parser)]
#[command(name = "dstack-runner", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon until SIGTERM.
    Serve {
        /// Directory for jobs, logs, archives and artifacts.
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on (port 0 picks a free port; the chosen
        /// address is written to `<dir>/runner.json`).
        #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], crate::api::DEFAULT_PORT)))]
        listen: SocketAddr,
        /// Token clients must present.
        #[arg(long, env = "DSTACK_RUNNER_TOKEN", conflicts_with = "token_file")]
        token: Option<String>,
        /// File holding the token (created with a random one if missing).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Largest archive, in MB, a job may unpack.
        #[arg(long, default_value_t = 10_000)]
        unpack_limit_mb: u64,
    },
}

/// Parses `args` (the first is the program name), runs, returns the exit code.
pub fn main_from_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 64 } else { 0 };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DSTACK_RUNNER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    match args.command {
        Command::Serve {
            dir,
            listen,
            token,
            token_file,
            unpack_limit_mb,
        } => {
            let token = match (token, token_file) {
                (Some(t), _) => t,
                (None, Some(file)) => match read_or_make_token(&file) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("dstack-runner: token file {}: {e}", file.display());
                        return 1;
                    }
                },
                (None, None) => {
                    eprintln!("dstack-runner: give --token or --token-file");
                    return 64;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("dstack-runner: cannot start the async runtime: {e}");
                    return 1;
                }
            };
            let config = RunnerConfig {
                dir,
                listen,
                token,
                unpack_limit: unpack_limit_mb.saturating_mul(1_000_000),
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("dstack-runner: {e}");
                    1
                }
            }
        }
    }
}

/// The token in `file`, or a new random one written there (mode 0600).
pub fn read_or_make_token(file: &Path) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(file) {
        let token = text.trim().to_string();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let token = store::random_hex(32);
    store::write_atomic(file, token.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(token)
}
