//! SSH fleets: hosts the user owns, reached through `dstack-ssh`.
//!
//! * [`hosts`]: a fleet's `ssh_config` resolved into the SSH target of
//!   each host (defaults, overrides, jump hosts, key paths), every
//!   incomplete host named with its place.
//! * [`install`]: puts this build's runner on a host (uploaded over SSH, no
//!   internet needed on the host), starts it as a service listening on the
//!   host's loopback only, upgrades it in place when the binary changed, and
//!   removes everything it put there again.

pub mod hosts;
pub mod install;
