//! The `type:` words of `*.dstack.yml` files: a leaf every layer may read
//! (the field reader names `dstack schema <type>` in its help, the loader
//! dispatches on them).

/// The `type:` words of `*.dstack.yml` files.
pub const TYPES: &[&str] = &[
    "dev-environment",
    "task",
    "service",
    "fleet",
    "gateway",
    "volume",
    "preset",
];
