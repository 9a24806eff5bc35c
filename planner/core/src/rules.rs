//! Which fields of which kinds change in place and which force a
//! replacement (spec §6.2), declared per kind like Terraform's
//! `RequiresReplace`. Display reasons live here too; apply never reads them.

use dstack_schemas::addr::ResourceKind;
use dstack_schemas::grammar::Memory;

/// What a change of one field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRule {
    /// Applied without recreating the resource.
    InPlace,
    /// Needs the resource recreated; the reason is shown.
    Replace(&'static str),
    /// Not a change at all (e.g. gateway `default` left out).
    Ignore,
}

/// In which order a replacement happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceOrder {
    /// Create the new one, then delete the old (no gap; both billed meanwhile).
    CreateThenDelete,
    /// Delete the old one, then create the new (a gap; never billed twice).
    DeleteThenCreate,
}

/// The kind-specific context of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleContext<'a> {
    /// Resource kind.
    pub kind: ResourceKind,
    /// `task`, `service`, `dev-environment` for runs and jobs.
    pub run_type: Option<&'a str>,
    /// True for SSH fleets.
    pub ssh_fleet: bool,
}

fn top(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// The rule for a changed field `path` (dotted), given old and new values.
pub fn field_rule(
    ctx: RuleContext,
    path: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> FieldRule {
    let field = top(path);
    match ctx.kind {
        ResourceKind::Fleet if ctx.ssh_fleet => match field {
            "ssh_config" if path == "ssh_config.hosts" => FieldRule::InPlace,
            _ => FieldRule::Replace("cannot change on an existing SSH fleet"),
        },
        ResourceKind::Fleet => match field {
            "nodes" | "reservation" | "tags" | "resources" | "backends" | "regions"
            | "availability_zones" | "instance_types" | "spot_policy" | "max_price" => {
                FieldRule::InPlace
            }
            _ => FieldRule::Replace("cannot change on an existing fleet"),
        },
        ResourceKind::Instance => match field {
            "for_run" => FieldRule::InPlace,
            _ => FieldRule::Replace("the instance's host changed"),
        },
        ResourceKind::Volume => match field {
            "tags" | "auto_cleanup_duration" => FieldRule::InPlace,
            "size" if size_of(after) >= size_of(before) => FieldRule::InPlace,
            "size" => FieldRule::Replace("volumes cannot shrink"),
            _ => FieldRule::Replace("cannot change on an existing volume"),
        },
        ResourceKind::Gateway => match field {
            "default" if after.is_null() => FieldRule::Ignore,
            "domain" | "default" | "replicas" | "tags" => FieldRule::InPlace,
            _ => FieldRule::Replace("cannot change on an existing gateway"),
        },
        ResourceKind::Run => run_rule(ctx.run_type.unwrap_or("task"), path, before, after),
        ResourceKind::Job => FieldRule::Replace("the job's configuration changed"),
    }
}

fn run_rule(
    run_type: &str,
    path: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> FieldRule {
    let field = top(path);
    if field == "priority" {
        return FieldRule::InPlace;
    }
    // Dropping a CPU architecture only widens the choice of machines.
    if path == "resources.cpu" && cpu_arch_only_removed(before, after) {
        return FieldRule::InPlace;
    }
    match (run_type, field) {
        ("dev-environment", "inactivity_duration") => FieldRule::InPlace,
        ("service", "replicas" | "scaling") => FieldRule::InPlace,
        ("service", "https")
            if before.is_null()
                || after == &serde_json::json!(true) && before == &serde_json::json!(true) =>
        {
            FieldRule::Ignore
        }
        ("service", _) => {
            FieldRule::Replace("a rolling deployment: new replicas start before old ones stop")
        }
        ("dev-environment", _) => FieldRule::Replace("cannot change on a running dev environment"),
        _ => FieldRule::Replace("cannot change on a running task"),
    }
}

fn cpu_arch_only_removed(before: &serde_json::Value, after: &serde_json::Value) -> bool {
    let (Some(b), Some(a)) = (before.as_str(), after.as_str()) else {
        return false;
    };
    b.split_once(':').is_some_and(|(_, count)| count == a)
}

fn size_of(value: &serde_json::Value) -> Memory {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// How a kind is replaced.
pub fn replace_order(kind: ResourceKind, run_type: Option<&str>) -> ReplaceOrder {
    match (kind, run_type) {
        // The old replica keeps serving until the new one is up.
        (ResourceKind::Run | ResourceKind::Job, Some("service")) => ReplaceOrder::CreateThenDelete,
        // Never hold two GPU machines (or two copies of a task) at once.
        _ => ReplaceOrder::DeleteThenCreate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(kind: ResourceKind, run_type: Option<&'static str>) -> RuleContext<'static> {
        RuleContext {
            kind,
            run_type,
            ssh_fleet: false,
        }
    }

    #[test]
    fn services_scale_in_place_and_roll_otherwise() {
        let svc = ctx(ResourceKind::Run, Some("service"));
        assert_eq!(
            field_rule(svc, "replicas", &json!("1"), &json!("2")),
            FieldRule::InPlace
        );
        assert!(matches!(
            field_rule(svc, "image", &json!("a"), &json!("b")),
            FieldRule::Replace(_)
        ));
        assert_eq!(
            replace_order(ResourceKind::Run, Some("service")),
            ReplaceOrder::CreateThenDelete
        );
    }

    #[test]
    fn tasks_replace_except_priority() {
        let task = ctx(ResourceKind::Run, Some("task"));
        assert_eq!(
            field_rule(task, "priority", &json!(0), &json!(5)),
            FieldRule::InPlace
        );
        assert!(matches!(
            field_rule(task, "commands", &json!([]), &json!(["x"])),
            FieldRule::Replace(_)
        ));
        assert_eq!(
            field_rule(task, "resources.cpu", &json!("x86:2.."), &json!("2..")),
            FieldRule::InPlace
        );
    }

    #[test]
    fn volumes_grow_in_place_never_shrink() {
        let vol = ctx(ResourceKind::Volume, None);
        assert_eq!(
            field_rule(vol, "size", &json!("100GB"), &json!("200GB")),
            FieldRule::InPlace
        );
        assert!(matches!(
            field_rule(vol, "size", &json!("200GB"), &json!("100GB")),
            FieldRule::Replace(_)
        ));
    }

    #[test]
    fn fleets_resize_in_place() {
        let fleet = ctx(ResourceKind::Fleet, None);
        assert_eq!(
            field_rule(fleet, "nodes.max", &json!(2), &json!(4)),
            FieldRule::InPlace
        );
        assert!(matches!(
            field_rule(fleet, "placement", &json!("any"), &json!("cluster")),
            FieldRule::Replace(_)
        ));
    }
}
