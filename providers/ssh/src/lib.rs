//! SSH transport for SSH fleets: what the SSH-fleet provider and the job
//! runtime call to reach hosts they do not own.
//!
//! * [`Session::connect`]: a host through an optional chain of jump hosts,
//!   each with its own user, port and identity file, bounded connect time,
//!   keep-alives, and host key pinning (pass the recorded key, or `None` on
//!   first use and record [`Session::host_keys`]; a different key is
//!   [`ErrorKind::HostKeyChanged`], never accepted).
//! * [`Session::exec`], [`Session::spawn`] (streaming), [`Session::run`],
//!   [`Session::has_passwordless_sudo`].
//! * [`Session::upload`]: streamed to a temporary path, SHA-256 verified on
//!   the host, renamed into place.
//! * [`Session::tunnel`] / [`Session::open_stream`]: a host's loopback port,
//!   as a local listener or a stream.
//! * [`Pool`]: one connection per (host, port, user, jump chain) shared by
//!   every caller, reconnecting with backoff; calls to a host that went away
//!   fail within a bounded time with [`ErrorKind::Unreachable`].
//!
//! Errors are [`SshError`]s naming the host, with a [`ErrorKind`] to decide
//! on. This crate does no sudo on its own and keeps no state on disk.

mod error;
mod exec;
mod handler;
mod hostkey;
mod identity;
mod pool;
mod session;
mod target;
mod tunnel;
mod upload;

pub use error::{ErrorKind, IdentityProblem, SshError, Unreachable};
pub use exec::{ExecEvent, ExecOutput, ExitStatus, RemoteProcess};
pub use hostkey::HostKey;
pub use pool::{Client, Pool, PoolOptions};
pub use session::Session;
pub use target::{ConnectOptions, Endpoint, Target};
pub use tunnel::{RemoteStream, Tunnel};
pub use upload::{UploadReport, UploadSource};
