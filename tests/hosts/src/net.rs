//! A host's network: its namespace, the veth pair to the machine (or to its
//! jump host's namespace), static neighbour entries, link down and up.
//!
//! The neighbour entries are permanent on both ends, so taking the host's
//! end down makes packets vanish silently (a connect *times out*) instead of
//! failing fast when address resolution gives up; and the machine routes the
//! whole [`crate::SUPERNET`] as unreachable, so a host behind another is not
//! reachable directly and nothing for 10.231.x.y ever leaves the machine.

use crate::cmd;
use crate::error::HarnessError;
use crate::slot::{SUPERNET, Slot};

/// `ip` in namespace `netns`, or in the machine's when `None`.
pub(crate) fn ip_in(netns: Option<&str>, args: &[&str]) -> Result<(), HarnessError> {
    let mut full: Vec<&str> = Vec::with_capacity(args.len() + 2);
    if let Some(netns) = netns {
        full.extend(["-n", netns]);
    }
    full.extend(args);
    cmd::ip(&full).map(drop)
}

fn mac(slot: &Slot, end: u8) -> String {
    format!("02:dd:00:00:{:02x}:{end:02x}", slot.index())
}

/// Routes the test supernet as unreachable in the machine's namespace
/// (idempotent; each host's /24 is more specific and wins).
pub(crate) fn guard_supernet() -> Result<(), HarnessError> {
    ip_in(None, &["route", "replace", "unreachable", SUPERNET])
}

/// Creates the host's namespace and links it to `outer_ns` (the jump host's
/// namespace) or to the machine.
pub(crate) fn create(slot: &Slot, outer_ns: Option<&str>) -> Result<(), HarnessError> {
    let netns = slot.netns();
    let (outer, inner) = (slot.outer_if(), slot.inner_if());
    let (outer_mac, inner_mac) = (mac(slot, 1), mac(slot, 2));
    cmd::ip(&["netns", "add", &netns])?;
    cmd::ip(&[
        "link", "add", &outer, "address", &outer_mac, "type", "veth", "peer", "name", &inner,
        "address", &inner_mac, "netns", &netns,
    ])?;
    if let Some(outer_ns) = outer_ns {
        cmd::ip(&["link", "set", &outer, "netns", outer_ns])?;
    }
    let outer_cidr = format!("{}/24", slot.outer_addr());
    ip_in(outer_ns, &["addr", "add", &outer_cidr, "dev", &outer])?;
    ip_in(outer_ns, &["link", "set", &outer, "up"])?;
    let inner_cidr = format!("{}/24", slot.host_addr());
    ip_in(Some(&netns), &["link", "set", "lo", "up"])?;
    ip_in(Some(&netns), &["addr", "add", &inner_cidr, "dev", &inner])?;
    link_up(slot, outer_ns)
}

/// Brings the host's end of its link up and (re)installs both neighbour
/// entries (taking a link down flushes the entries of that end).
pub(crate) fn link_up(slot: &Slot, outer_ns: Option<&str>) -> Result<(), HarnessError> {
    let netns = slot.netns();
    let (outer, inner) = (slot.outer_if(), slot.inner_if());
    ip_in(Some(&netns), &["link", "set", &inner, "up"])?;
    let (host_addr, outer_addr) = (slot.host_addr().to_string(), slot.outer_addr().to_string());
    let (outer_mac, inner_mac) = (mac(slot, 1), mac(slot, 2));
    ip_in(
        outer_ns,
        &[
            "neigh",
            "replace",
            &host_addr,
            "lladdr",
            &inner_mac,
            "dev",
            &outer,
            "nud",
            "permanent",
        ],
    )?;
    ip_in(
        Some(&netns),
        &[
            "neigh",
            "replace",
            &outer_addr,
            "lladdr",
            &outer_mac,
            "dev",
            &inner,
            "nud",
            "permanent",
        ],
    )
}

/// Takes the host's end of its link down: packets to it are dropped without
/// an answer, as when a machine loses its network.
pub(crate) fn link_down(slot: &Slot) -> Result<(), HarnessError> {
    ip_in(
        Some(&slot.netns()),
        &["link", "set", &slot.inner_if(), "down"],
    )
}
