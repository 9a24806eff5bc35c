//! What a planned change does, as one verb ([`ChangeVerb`]), and why, as a
//! machine-readable code ([`ActionReason`], the plan's `action_reason`).

use schemars::JsonSchema;

crate::word_enum! {
    /// Why a change does what it does (display only: `dstack apply` acts on
    /// the `actions` list). A code this version does not know, read from a
    /// newer plan, is [`ActionReason::Unknown`]; it is never planned.
    #[derive(JsonSchema)]
    pub enum ActionReason("action reason") {
        /// A job created (or an elastic fleet grown) for a run.
        CreateForRun = "create_for_run",
        /// The changed fields can change in place.
        UpdateInPlace = "update_in_place",
        /// A changed field cannot change in place.
        ReplaceBecauseCannotUpdate = "replace_because_cannot_update",
        /// A finished run whose configuration changed runs again.
        RerunBecauseChanged = "rerun_because_changed",
        /// No configuration declares it any more.
        DeleteBecauseNoResourceConfig = "delete_because_no_resource_config",
        /// It was deleted outside dstack; only the state row goes.
        DeleteBecauseDeletedOutside = "delete_because_deleted_outside",
        /// A destroy plan.
        DeleteBecauseDestroy = "delete_because_destroy",
        /// A volume no longer configured is kept (volumes are never deleted implicitly).
        RetainVolume = "retain_volume",
        /// Replaced because `--replace` asked for it.
        ReplaceByRequest = "replace_by_request",
        /// It was deleted outside dstack and is created again.
        RecreateBecauseDeletedOutside = "recreate_because_deleted_outside",
        /// A code from a newer plan format.
        #[serde(other)]
        #[schemars(skip)]
        Unknown = "unknown",
    }
}

/// A change's actions as one verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeVerb {
    /// Create.
    Create,
    /// Change in place.
    Update,
    /// Delete.
    Delete,
    /// Delete and create (in either order).
    Replace,
    /// Nothing to do.
    NoOp,
}

impl ChangeVerb {
    /// The word shown (`create`, `replace`, `no-op`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Replace => "replace",
            Self::NoOp => "no-op",
        }
    }
}

impl std::fmt::Display for ChangeVerb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips() {
        for reason in ActionReason::ALL {
            let word = reason.to_string();
            assert_eq!(word.parse::<ActionReason>().ok(), Some(*reason));
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(word)
            );
            let back: ActionReason = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(back, *reason);
        }
    }

    #[test]
    fn a_newer_code_reads_as_unknown() {
        let read: ActionReason =
            serde_json::from_value(serde_json::json!("move_by_magic")).unwrap();
        assert_eq!(read, ActionReason::Unknown);
        assert!("move_by_magic".parse::<ActionReason>().is_err());
    }
}
