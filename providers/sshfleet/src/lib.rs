//! SSH fleets: hosts the user owns, reached through `dstack-ssh`.
//!
//! * [`hosts`]: a fleet's `ssh_config` resolved into the SSH target of
//!   each host (defaults, overrides, jump hosts, key paths), every
//!   incomplete host named with its place.
//! * [`install`]: puts this build's runner on a host (uploaded over SSH, no
//!   internet needed on the host), starts it as a service listening on the
//!   host's loopback only, upgrades it in place when the binary changed, and
//!   removes everything it put there again.
//! * [`probe`]: what a host is (architecture, CPUs, memory, disk, GPUs,
//!   Docker, sudo, systemd), from one remote script.
//! * [`preflight`]: every problem of every host of a fleet, checked in
//!   parallel, each with its fix.
//! * [`offers`]: a host's resources as offers, split into `blocks`.

pub mod hosts;
pub mod install;
pub mod offers;
pub mod preflight;
pub mod probe;
