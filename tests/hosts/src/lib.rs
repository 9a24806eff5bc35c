//! Test hosts for SSH tests: real OpenSSH `sshd` processes, each in its own
//! network namespace (a veth pair and its own address) and mount namespace
//! (private `/root /home /opt /srv /usr/local /var/lib /etc/systemd /tmp
//! /run /var/tmp`), so two hosts never share the files a runner installs.
//!
//! ```no_run
//! use dstack_testhosts::{GpuProfile, HostSet, HostSpec, TestUser};
//!
//! let hosts = HostSet::builder()
//!     .host(HostSpec::new("gpu").user(TestUser::Sudo).docker(true).gpus(&GpuProfile::A10G_X1))
//!     .host(HostSpec::new("inner").behind("gpu"))
//!     .build()?;
//! let gpu = &hosts["gpu"];
//! println!("{} at {}:{} key {}", gpu.name(), gpu.addr(), gpu.port(), gpu.host_key().fingerprint);
//! gpu.link_down()?;
//! # Ok::<(), dstack_testhosts::HarnessError>(())
//! ```
//!
//! Needs root and the packages and users that `.ci/ssh-up` installs; without
//! them [`HostSetBuilder::build`] fails with [`HarnessError::Unsupported`]
//! naming what is missing. Used only as a dev-dependency.

mod cmd;
mod error;
mod fs;
mod gpu;
mod host;
mod keys;
mod net;
mod set;
mod slot;
mod spec;
mod sshd;
mod state;

pub use cmd::CmdOutput;
pub use error::HarnessError;
pub use fs::{PRIVATE_DIRS, SSH_DIR};
pub use gpu::GpuProfile;
pub use host::Host;
pub use keys::{KeyKind, KeyPair};
pub use set::{HostSet, HostSetBuilder, preflight};
pub use slot::{LOCK_DIR, SLOTS, STATE_BASE, SUPERNET, slot_owner, sweep_stale};
pub use spec::{HostFile, HostSpec, TestUser};
