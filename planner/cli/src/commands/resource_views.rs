//! Fleets, volumes and gateways of state as the inspection documents show
//! them ([`ResourceView`]): a fleet with its instances and the jobs on
//! them, a volume or gateway with what uses it. The built-in `local` fleet
//! (this machine) is not a row of state; it is shown when the local backend
//! is enabled.

use dstack_planner::desired::LOCAL_FLEET;
use dstack_planner::recorded::job_instance;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::inspect::{InstanceView, ResourceView};
use dstack_schemas::status::Status;
use dstack_state::RecordedResource;

use crate::context::Project;

/// Every recorded resource of `kind` (fleet, volume, gateway), newest first.
pub fn views(
    project: &Project,
    kind: ResourceKind,
) -> Result<Vec<ResourceView>, crate::error::CliError> {
    let rows = project.state.list()?;
    let mut views: Vec<ResourceView> = rows
        .iter()
        .filter(|r| r.address.kind() == kind)
        .map(|r| view(r, &rows))
        .collect();
    if kind == ResourceKind::Fleet && project.backends.local.enabled {
        views.push(local_fleet(project, &rows));
    }
    views.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    Ok(views)
}

/// The resource of `kind` named `name`, or `None`.
pub fn find(
    project: &Project,
    kind: ResourceKind,
    name: &str,
) -> Result<Option<ResourceView>, crate::error::CliError> {
    Ok(views(project, kind)?.into_iter().find(|v| v.name == name))
}

fn view(row: &RecordedResource, rows: &[RecordedResource]) -> ResourceView {
    let instances: Vec<InstanceView> = rows
        .iter()
        .filter(|r| r.address.parent().as_ref() == Some(&row.address))
        .map(|r| instance_view(r, rows))
        .collect();
    let first = instances.first();
    let price = if row.address.kind() == ResourceKind::Fleet {
        let prices: Vec<f64> = instances.iter().filter_map(|i| i.price_per_hour).collect();
        (!prices.is_empty()).then(|| prices.iter().sum())
    } else {
        row.price_per_hour.map(|p| p.as_dollars_f64())
    };
    ResourceView {
        name: row.address.name().to_string(),
        address: row.address.to_string(),
        kind: row.address.kind().to_string(),
        status: row.status.to_string(),
        backend: row
            .provider
            .clone()
            .or_else(|| first.and_then(|i| i.backend.clone())),
        region: text(&row.spec, "region")
            .or_else(|| row.offer.as_ref().and_then(|o| text(o, "region")))
            .or_else(|| first.and_then(|i| i.region.clone())),
        provider_id: row.provider_id.clone(),
        price_per_hour: price,
        created_at: row.created_at,
        spec: row.spec.clone(),
        data: row.data.clone(),
        instances,
        used_by: used_by(&row.address, rows),
    }
}

fn text(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// Runs and fleets whose spec names this volume or gateway.
fn used_by(addr: &ResourceAddr, rows: &[RecordedResource]) -> Vec<String> {
    let key = match addr.kind() {
        ResourceKind::Volume => "volumes",
        ResourceKind::Gateway => "gateway",
        _ => return Vec::new(),
    };
    let name = addr.name();
    let names = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s == name,
        serde_json::Value::Array(items) => items.iter().any(|i| {
            i.as_str()
                .is_some_and(|s| s.split(':').next() == Some(name))
                || i.get("name").and_then(|n| n.as_str()) == Some(name)
        }),
        _ => false,
    };
    rows.iter()
        .filter(|r| matches!(r.address.kind(), ResourceKind::Run | ResourceKind::Fleet))
        .filter(|r| r.spec.get(key).is_some_and(names))
        .map(|r| r.address.to_string())
        .collect()
}

/// Unfinished jobs placed on `instance`.
fn jobs_on(instance: &ResourceAddr, rows: &[RecordedResource]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.address.kind() == ResourceKind::Job && !r.status.is_final())
        .filter(|r| job_instance(r).as_ref() == Some(instance))
        .map(|r| r.address.to_string())
        .collect()
}

fn instance_view(row: &RecordedResource, rows: &[RecordedResource]) -> InstanceView {
    let jobs = jobs_on(&row.address, rows);
    let offer = row.offer.clone().unwrap_or_default();
    InstanceView {
        num: row.address.index().unwrap_or(0),
        address: row.address.to_string(),
        status: busy_or(row.status, &jobs),
        backend: row.provider.clone().or_else(|| text(&offer, "backend")),
        region: text(&offer, "region"),
        instance_type: text(&offer, "instance_type"),
        resources: offer_resources(&offer),
        spot: offer.get("spot").and_then(|s| s.as_bool()),
        price_per_hour: row.price_per_hour.map(|p| p.as_dollars_f64()),
        provider_id: row.provider_id.clone(),
        jobs,
    }
}

/// `busy` while jobs run on an active instance (dstack's word), else its status.
fn busy_or(status: Status, jobs: &[String]) -> String {
    match (status, jobs.is_empty()) {
        (Status::Active, false) => "busy".into(),
        (Status::Active, true) => "idle".into(),
        (other, _) => other.to_string(),
    }
}

/// `4xCPU, 16GB, 1xA10G (24GB)` from a recorded offer.
pub fn offer_resources(offer: &serde_json::Value) -> Option<String> {
    let cpus = offer.get("cpus")?.as_u64()?;
    let memory = offer.get("memory").and_then(|m| m.as_f64()).unwrap_or(0.0);
    let mut text = format!("{cpus}xCPU, {memory}GB");
    if let Some(gpu) = offer.get("gpu").filter(|g| !g.is_null()) {
        let count = gpu.get("count").and_then(|c| c.as_u64()).unwrap_or(1);
        let name = gpu.get("name").and_then(|n| n.as_str()).unwrap_or("GPU");
        let mem = gpu.get("memory").and_then(|m| m.as_f64()).unwrap_or(0.0);
        text.push_str(&format!(", {count}x{name} ({mem}GB)"));
    }
    Some(text)
}

/// The built-in `local` fleet: this machine as instance 0.
fn local_fleet(project: &Project, rows: &[RecordedResource]) -> ResourceView {
    let addr = ResourceAddr::Instance(LOCAL_FLEET.into(), 0);
    let jobs = jobs_on(&addr, rows);
    let local = &project.backends.local;
    let resources = match (local.cpus, &local.memory) {
        (Some(cpus), Some(memory)) => format!("{cpus}xCPU, {memory}"),
        _ => "this machine".into(),
    };
    let instance = InstanceView {
        num: 0,
        address: addr.to_string(),
        status: busy_or(Status::Active, &jobs),
        backend: Some("local".into()),
        region: Some("local".into()),
        instance_type: None,
        resources: Some(resources),
        spot: Some(false),
        price_per_hour: Some(0.0),
        provider_id: None,
        jobs,
    };
    ResourceView {
        name: LOCAL_FLEET.into(),
        address: ResourceAddr::Fleet(LOCAL_FLEET.into()).to_string(),
        kind: "fleet".into(),
        status: Status::Active.to_string(),
        backend: Some("local".into()),
        region: Some("local".into()),
        provider_id: None,
        price_per_hour: Some(0.0),
        created_at: 0,
        spec: serde_json::json!({"type": "fleet", "name": LOCAL_FLEET, "built_in": true}),
        data: serde_json::Value::Null,
        instances: vec![instance],
        used_by: Vec::new(),
    }
}
