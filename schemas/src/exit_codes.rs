//! Process exit codes of the `dstack` CLI. Scripts and CI depend on these;
//! they change only with a major version.

/// Success; for `plan --detailed-exitcode`: no changes.
pub const OK: i32 = 0;
/// An unexpected error (a bug, or an IO failure we could not classify).
pub const UNEXPECTED: i32 = 1;
/// `plan --detailed-exitcode`: the plan has changes.
pub const CHANGES_PRESENT: i32 = 2;
/// A configuration is invalid.
pub const INVALID_CONFIG: i32 = 3;
/// The state is locked by another operation.
pub const STATE_LOCKED: i32 = 4;
/// Apply ran, but some steps failed (state records what exists).
pub const APPLY_PARTIAL: i32 = 5;
/// A provider refused our credentials.
pub const PROVIDER_AUTH: i32 = 6;
/// A saved plan no longer matches the state, the configs or the prices.
pub const STALE_PLAN: i32 = 7;
/// No offer matches a resource's requirements.
pub const NO_OFFER: i32 = 8;
/// The state file is unreadable, corrupt or from a newer version.
pub const STATE_ERROR: i32 = 9;
/// `plan --refresh --detailed-exitcode`: drift found (and no changes).
pub const DRIFT_PRESENT: i32 = 10;
/// The user declined the confirmation prompt.
pub const DECLINED: i32 = 11;
/// Bad command-line usage (sysexits `EX_USAGE`).
pub const USAGE: i32 = 64;
/// Interrupted by Ctrl+C.
pub const INTERRUPTED: i32 = 130;
/// Standard output was closed by its reader (`dstack plan | head`): the
/// command stopped quietly, as a process killed by SIGPIPE would (128 + 13).
pub const OUTPUT_CLOSED: i32 = 141;

/// Every code with its meaning, for `--help` and the README.
pub const ALL: &[(i32, &str)] = &[
    (OK, "success; with --detailed-exitcode: no changes"),
    (UNEXPECTED, "unexpected error"),
    (CHANGES_PRESENT, "plan --detailed-exitcode: changes present"),
    (INVALID_CONFIG, "invalid configuration"),
    (STATE_LOCKED, "state locked by another operation"),
    (APPLY_PARTIAL, "apply finished with failed steps"),
    (PROVIDER_AUTH, "provider credentials refused"),
    (STALE_PLAN, "saved plan is stale"),
    (NO_OFFER, "no offer matches the requirements"),
    (STATE_ERROR, "state unreadable or from a newer version"),
    (
        DRIFT_PRESENT,
        "plan --refresh --detailed-exitcode: drift only",
    ),
    (DECLINED, "confirmation declined"),
    (USAGE, "bad command-line usage"),
    (INTERRUPTED, "interrupted"),
    (OUTPUT_CLOSED, "standard output closed by its reader"),
];
