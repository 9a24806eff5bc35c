//! The desired resources of a project: each configuration normalised into
//! its address, secret-free spec and fingerprint, with children (fleet
//! instances, run jobs) and the references that become graph edges.

use std::collections::BTreeMap;
use std::sync::Arc;

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::config::service::GatewayRef;
use dstack_schemas::config::spans::SpanIndex;
use dstack_schemas::config::{Configuration, FleetConfig};
use dstack_schemas::diag::SourceFile;
use dstack_schemas::grammar::VolumeMount;
use dstack_schemas::plan::SourceLocation;
use dstack_schemas::spec::{InstanceSpec, JobSpec};

use crate::fingerprint::fingerprint;
use crate::naming::resource_name;
use crate::normalize::{JobShape, normalize, run_jobs};

/// The name of the built-in fleet that is this machine.
pub const LOCAL_FLEET: &str = "local";

/// One configuration file of the project, read and valid.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The file (for locations).
    pub file: SourceFile,
    /// Spans by JSON pointer.
    pub spans: SpanIndex,
    /// The configuration as written.
    pub config: Configuration,
}

/// A place in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index into the project's configs.
    pub config: usize,
    /// JSON pointer (`/fleets/0`).
    pub pointer: String,
}

/// A reference from one resource to another, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What is referenced.
    pub target: ResourceAddr,
    /// Where.
    pub origin: Origin,
    /// `gateway: true` (the default gateway) rather than a name.
    pub default_gateway: bool,
}

/// A resource the configuration asks for.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    /// Address.
    pub address: ResourceAddr,
    /// Normalised spec (secret-free). Shared: a plan's change holds it as
    /// its after (and, unchanged, as its before) without copying it.
    pub spec: Arc<serde_json::Value>,
    /// Fingerprint of `spec`.
    pub fingerprint: String,
    /// The normalised configuration (top-level resources only). Shared:
    /// a run with 10,000 jobs is cloned and moved often, its config never.
    pub config: Option<Arc<Configuration>>,
    /// Job shape (jobs only; shared by the jobs of one group).
    pub job: Option<Arc<JobShape>>,
    /// Where it is defined.
    pub origin: Option<Origin>,
    /// What it refers to.
    pub references: Vec<Reference>,
}

/// A problem found while building the desired set.
#[derive(Debug, Clone)]
pub struct DesiredError {
    /// Stable code.
    pub code: &'static str,
    /// Message.
    pub message: String,
    /// Where (primary).
    pub origin: Option<Origin>,
    /// Where else (e.g. the first definition).
    pub also: Option<Origin>,
    /// Advice.
    pub help: Option<String>,
}

/// Every desired resource, by address.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// The resources.
    pub resources: BTreeMap<ResourceAddr, DesiredResource>,
    /// Problems (duplicate names, reserved names, names not derivable).
    pub errors: Vec<DesiredError>,
}

/// Resolves an origin to `file:line:col`.
pub fn locate(configs: &[ProjectConfig], origin: &Origin) -> Option<SourceLocation> {
    let config = configs.get(origin.config)?;
    let span = config.spans.nearest(&origin.pointer);
    let (line, column) = config.file.line_col(span.start);
    Some(SourceLocation {
        file: config.file.name().to_string(),
        line,
        column,
    })
}

fn address_of(config: &Configuration, name: String) -> Option<ResourceAddr> {
    Some(match config {
        Configuration::Task(_) | Configuration::Service(_) | Configuration::DevEnvironment(_) => {
            ResourceAddr::Run(name)
        }
        Configuration::Fleet(_) => ResourceAddr::Fleet(name),
        Configuration::Volume(_) => ResourceAddr::Volume(name),
        Configuration::Gateway(_) => ResourceAddr::Gateway(name),
        Configuration::Preset(_) => return None,
    })
}

/// Builds the desired set from the project's configurations.
pub fn build_desired(configs: &[ProjectConfig]) -> Desired {
    let mut desired = Desired::default();
    let mut defined: BTreeMap<ResourceAddr, usize> = BTreeMap::new();
    for (index, pc) in configs.iter().enumerate() {
        let origin = Origin {
            config: index,
            pointer: if pc.config.name().is_some() {
                "/name".into()
            } else {
                "/type".into()
            },
        };
        let name = match resource_name(&pc.config, pc.file.name()) {
            Ok(n) => n,
            Err(e) => {
                desired.errors.push(DesiredError {
                    code: "dstack::plan::no_name",
                    message: e.to_string(),
                    origin: Some(origin),
                    also: None,
                    help: Some("add `name:` to the configuration".into()),
                });
                continue;
            }
        };
        let Some(address) = address_of(&pc.config, name.clone()) else {
            continue;
        };
        if address == ResourceAddr::Fleet(LOCAL_FLEET.into()) {
            desired.errors.push(DesiredError {
                code: "dstack::plan::reserved_name",
                message: "the fleet name `local` is reserved for this machine".into(),
                origin: Some(origin),
                also: None,
                help: Some("choose another name".into()),
            });
            continue;
        }
        if let Some(first) = defined.get(&address) {
            desired.errors.push(DesiredError {
                code: "dstack::plan::duplicate_name",
                message: format!("{address} is defined twice"),
                origin: Some(origin),
                also: Some(Origin {
                    config: *first,
                    pointer: "/name".into(),
                }),
                help: Some(
                    "names of runs, fleets, volumes and gateways are unique per project".into(),
                ),
            });
            continue;
        }
        defined.insert(address.clone(), index);
        add_resource(&mut desired, index, &pc.config, address);
    }
    desired
}

fn add_resource(
    desired: &mut Desired,
    index: usize,
    config: &Configuration,
    address: ResourceAddr,
) {
    let normalized = normalize(config);
    let spec = serde_json::to_value(&normalized).unwrap_or_default();
    let origin = Origin {
        config: index,
        pointer: if config.name().is_some() {
            "/name".into()
        } else {
            "/type".into()
        },
    };
    let references = references(index, &normalized);
    match &normalized {
        Configuration::Fleet(fleet) => add_instances(desired, index, fleet, address.name()),
        Configuration::Task(_) | Configuration::Service(_) | Configuration::DevEnvironment(_) => {
            add_jobs(desired, index, &normalized, address.name(), &spec)
        }
        _ => {}
    }
    desired.resources.insert(
        address.clone(),
        DesiredResource {
            fingerprint: fingerprint(&spec),
            address,
            spec: Arc::new(spec),
            config: Some(Arc::new(normalized)),
            job: None,
            origin: Some(origin),
            references,
        },
    );
}

fn add_instances(desired: &mut Desired, index: usize, fleet: &FleetConfig, name: &str) {
    let hosts: Vec<Option<String>> = match (&fleet.ssh_config, fleet.nodes) {
        (Some(ssh), _) => ssh
            .hosts
            .iter()
            .map(|h| {
                let user = h.user.as_ref().or(ssh.user.as_ref());
                let port = h.port.or(ssh.port);
                Some(format!(
                    "{}{}{}",
                    user.map_or(String::new(), |u| format!("{u}@")),
                    h.hostname,
                    port.map_or(String::new(), |p| format!(":{p}"))
                ))
            })
            .collect(),
        (None, Some(nodes)) => (0..nodes.initial()).map(|_| None).collect(),
        (None, None) => Vec::new(),
    };
    for (i, host) in hosts.into_iter().enumerate() {
        let spec = InstanceSpec {
            fleet: name.to_string(),
            index: i as u32,
            host,
            for_run: None,
        };
        insert_child(
            desired,
            ResourceAddr::Instance(name.into(), i as u32),
            &spec,
            index,
            format!("/ssh_config/hosts/{i}"),
            None,
        );
    }
}

/// The part of a run's spec that defines what its jobs run: everything but
/// the fields that change in place (replica counts, scaling, priority).
pub fn deployment_fingerprint(run_spec: &serde_json::Value) -> String {
    let mut spec = run_spec.clone();
    if let Some(obj) = spec.as_object_mut() {
        for key in [
            "replicas",
            "scaling",
            "priority",
            "inactivity_duration",
            "name",
        ] {
            obj.remove(key);
        }
    }
    fingerprint(&spec)
}

fn add_jobs(
    desired: &mut Desired,
    index: usize,
    config: &Configuration,
    name: &str,
    run_spec: &serde_json::Value,
) {
    let deployment = deployment_fingerprint(run_spec);
    for shape in run_jobs(config) {
        let spec = JobSpec {
            run: name.to_string(),
            index: shape.index,
            group: shape.group.clone(),
            replica: shape.replica,
            node_rank: shape.node_rank,
            deployment: deployment.clone(),
        };
        let addr = ResourceAddr::Job(name.into(), shape.index);
        insert_child(
            desired,
            addr,
            &spec,
            index,
            String::new(),
            Some(Arc::new(shape)),
        );
    }
}

fn insert_child<T: serde::Serialize>(
    desired: &mut Desired,
    address: ResourceAddr,
    spec: &T,
    config: usize,
    pointer: String,
    job: Option<Arc<JobShape>>,
) {
    let spec = serde_json::to_value(spec).unwrap_or_default();
    desired.resources.insert(
        address.clone(),
        DesiredResource {
            fingerprint: fingerprint(&spec),
            address,
            spec: Arc::new(spec),
            config: None,
            job,
            origin: Some(Origin { config, pointer }),
            references: Vec::new(),
        },
    );
}

/// What a (normalised) configuration refers to.
fn references(index: usize, config: &Configuration) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut add = |target: ResourceAddr, pointer: String, default_gateway: bool| {
        refs.push(Reference {
            target,
            origin: Origin {
                config: index,
                pointer,
            },
            default_gateway,
        });
    };
    let Some(common) = config.run_common() else {
        return refs;
    };
    for (i, fleet) in common.profile.fleets.iter().flatten().enumerate() {
        add(
            ResourceAddr::Fleet(fleet.name.clone()),
            format!("/fleets/{i}"),
            false,
        );
    }
    for (i, mount) in common.volumes.iter().flatten().enumerate() {
        if let VolumeMount::Network { names, .. } = mount {
            for name in names {
                // `${{ dstack.node_rank }}` names are per job; checked at apply.
                if !name.contains("${{") {
                    add(
                        ResourceAddr::Volume(name.clone()),
                        format!("/volumes/{i}"),
                        false,
                    );
                }
            }
        }
    }
    if let Configuration::Service(service) = config {
        match &service.gateway {
            Some(GatewayRef::Named(r)) => add(
                ResourceAddr::Gateway(r.name.clone()),
                "/gateway".into(),
                false,
            ),
            Some(GatewayRef::Enabled(true)) => add(
                ResourceAddr::Gateway(String::new()),
                "/gateway".into(),
                true,
            ),
            _ => {}
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::config::load_config;

    pub(crate) fn project(files: &[(&str, &str)]) -> Vec<ProjectConfig> {
        files
            .iter()
            .map(|(name, text)| {
                let loaded = load_config(name, text.as_bytes());
                assert!(!loaded.has_errors(), "{name}: {:?}", loaded.diagnostics);
                ProjectConfig {
                    file: loaded.file.clone(),
                    spans: loaded.spans.clone(),
                    config: loaded.config().cloned().expect("config"),
                }
            })
            .collect()
    }

    #[test]
    fn children_and_references() {
        let configs = project(&[
            ("pool.dstack.yml", "type: fleet\nname: pool\nnodes: 2\n"),
            (
                "train.dstack.yml",
                "type: task\ncommands: [x]\nnodes: 2\nfleets: [pool]\nvolumes: [data:/data]\n",
            ),
        ]);
        let desired = build_desired(&configs);
        assert!(desired.errors.is_empty());
        let addrs: Vec<String> = desired.resources.keys().map(|a| a.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "fleet/pool",
                "fleet/pool/instance/0",
                "fleet/pool/instance/1",
                "run/train",
                "run/train/job/0",
                "run/train/job/1"
            ]
        );
        let run = &desired.resources[&ResourceAddr::Run("train".into())];
        let targets: Vec<String> = run
            .references
            .iter()
            .map(|r| r.target.to_string())
            .collect();
        assert_eq!(targets, ["fleet/pool", "volume/data"]);
    }

    #[test]
    fn duplicate_names_point_at_both() {
        let configs = project(&[
            ("a.dstack.yml", "type: fleet\nname: pool\nnodes: 1\n"),
            ("b.dstack.yml", "type: fleet\nname: pool\nnodes: 2\n"),
        ]);
        let desired = build_desired(&configs);
        assert_eq!(desired.errors.len(), 1);
        assert_eq!(desired.errors[0].also.as_ref().map(|o| o.config), Some(0));
    }
}
