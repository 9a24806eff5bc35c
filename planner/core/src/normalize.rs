//! Defaults filled in: the normalised configuration is what dstack would
//! run, so writing a default explicitly (`spot_policy: on-demand`) plans the
//! same as leaving it out. Also: which jobs a run has, and its requirements.

use dstack_schemas::config::enums::RetryEvent;
use dstack_schemas::config::enums::{CreationPolicy, Placement, Shell, SpotPolicy};
use dstack_schemas::config::fleet::{Blocks, FleetConfig};
use dstack_schemas::config::gateway::{Certificate, GatewayConfig};
use dstack_schemas::config::profile::{ProfileParams, Retry};
use dstack_schemas::config::resources::Resources;
use dstack_schemas::config::run::{RunCommon, ShellSpec};
use dstack_schemas::config::service::Https;
use dstack_schemas::config::volume::VolumeConfig;
use dstack_schemas::config::{Configuration, ServiceConfig, TaskConfig};
use dstack_schemas::grammar::{
    CpuArch, CpuSpec, DiskSpec, Duration, GpuSpec, GpuVendor, IdleDuration, Memory, OffDuration,
    Range, vendor_of,
};

use crate::fingerprint::fingerprint;
use crate::requirements::Requirements;

/// Default idle time of instances a run provisioned.
pub const RUN_IDLE_DEFAULT: Duration = Duration::from_secs(300);
/// Default idle time of fleet instances.
pub const FLEET_IDLE_DEFAULT: Duration = Duration::from_secs(3 * 24 * 3600);
/// Default graceful stop budget.
pub const STOP_DEFAULT: Duration = Duration::from_secs(300);
/// Default retry window.
pub const RETRY_WINDOW_DEFAULT: Duration = Duration::from_secs(3600);

/// The configuration with every default dstack would apply filled in.
pub fn normalize(config: &Configuration) -> Configuration {
    let mut config = config.clone();
    match &mut config {
        Configuration::Task(task) => {
            normalize_run(&mut task.common, true);
            if task.groups.is_none() {
                task.nodes.get_or_insert(1);
            }
            if let Some(groups) = &mut task.groups {
                for g in groups {
                    g.nodes.get_or_insert(1);
                    let res = g.resources.take().unwrap_or_default();
                    g.resources = Some(run_resources(&res, task.common.image.is_some()));
                }
            }
        }
        Configuration::Service(service) => {
            normalize_run(&mut service.common, true);
            if service.groups.is_none() {
                service.replicas.get_or_insert(Range::exact(1));
            }
            service.https.get_or_insert(Https::Enabled(true));
            service.auth.get_or_insert(true);
            service.strip_prefix.get_or_insert(true);
            if let Some(groups) = &mut service.groups {
                for g in groups {
                    let res = g.resources.take().unwrap_or_default();
                    g.resources = Some(run_resources(
                        &res,
                        g.image.is_some() || service.common.image.is_some(),
                    ));
                }
            }
        }
        Configuration::DevEnvironment(dev) => {
            normalize_run(&mut dev.common, false);
            dev.inactivity_duration.get_or_insert(OffDuration::Off);
        }
        Configuration::Fleet(fleet) => normalize_fleet(fleet),
        Configuration::Volume(volume) => normalize_volume(volume),
        Configuration::Gateway(gateway) => normalize_gateway(gateway),
        Configuration::Preset(_) => {}
    }
    config
}

fn normalize_run(common: &mut RunCommon, single_branch: bool) {
    let has_image = common.image.is_some();
    common.resources = Some(run_resources(
        &common.resources.take().unwrap_or_default(),
        has_image,
    ));
    common.privileged.get_or_insert(common.docker == Some(true));
    common.single_branch.get_or_insert(single_branch);
    common.shell.get_or_insert(ShellSpec::Named(if has_image {
        Shell::Sh
    } else {
        Shell::Bash
    }));
    common.priority.get_or_insert(0);
    common.env.0.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(auth) = &mut common.registry_auth {
        // A literal password is a secret: keep only a digest of it, so a
        // change is still noticed but the value never reaches state or plans.
        let literal = auth.password.vars().next().is_none();
        if literal {
            let digest = fingerprint(&serde_json::json!(auth.password.to_string()));
            auth.password =
                dstack_schemas::grammar::Template::literal(format!("<redacted {digest}>"));
        }
    }
    normalize_profile(&mut common.profile, RUN_IDLE_DEFAULT);
    common.profile.max_duration.get_or_insert(OffDuration::Off);
    common
        .profile
        .stop_duration
        .get_or_insert(OffDuration::After(STOP_DEFAULT));
    common
        .profile
        .creation_policy
        .get_or_insert(CreationPolicy::ReuseOrCreate);
}

fn normalize_profile(profile: &mut ProfileParams, idle_default: Duration) {
    profile.spot_policy.get_or_insert(SpotPolicy::OnDemand);
    profile
        .idle_duration
        .get_or_insert(IdleDuration::After(idle_default));
    profile.retry = Some(normalize_retry(profile.retry.take()));
}

/// `retry` with the defaults of spec §4: `true`/`{}` = all events for 1h.
pub fn normalize_retry(retry: Option<Retry>) -> Retry {
    let all = vec![
        RetryEvent::NoCapacity,
        RetryEvent::Interruption,
        RetryEvent::Error,
    ];
    match retry {
        None | Some(Retry::Enabled(false)) => Retry::Enabled(false),
        Some(Retry::Enabled(true)) => Retry::Policy {
            on_events: Some(all),
            duration: Some(RETRY_WINDOW_DEFAULT),
        },
        Some(Retry::Policy {
            on_events,
            duration,
        }) => Retry::Policy {
            on_events: Some(on_events.unwrap_or(all)),
            duration: Some(duration.unwrap_or(RETRY_WINDOW_DEFAULT)),
        },
    }
}

/// Run resources with dstack's defaults: `cpu: 2..` (x86 without a custom
/// image), `memory: 8GB..`, `disk: 100GB..`, `gpu: 0..`, and the GPU vendor
/// inferred from the names.
pub fn run_resources(resources: &Resources, has_image: bool) -> Resources {
    let mut out = resources.clone();
    let mut cpu = out.cpu.unwrap_or_default();
    if cpu.arch.is_none() && !has_image {
        cpu.arch = Some(CpuArch::X86);
    }
    out.cpu = Some(cpu);
    out.memory
        .get_or_insert(Range::at_least(Memory::from_gb(8)));
    out.disk.get_or_insert(DiskSpec::default());
    let mut gpu = out.gpu.take().unwrap_or_default();
    infer_vendor(&mut gpu, has_image);
    out.gpu = Some(gpu);
    out
}

/// Fleet resources: unconstrained unless given (`cpu: 1..`, `memory: 0..`,
/// `gpu: 0..`, no disk constraint).
pub fn fleet_resources(resources: &Resources) -> Resources {
    let mut out = resources.clone();
    out.cpu.get_or_insert(CpuSpec {
        arch: None,
        count: Range::at_least(1),
    });
    out.memory
        .get_or_insert(Range::at_least(Memory::from_gb(0)));
    let mut gpu = out.gpu.take().unwrap_or_default();
    infer_vendor(&mut gpu, true);
    out.gpu = Some(gpu);
    out
}

fn infer_vendor(gpu: &mut GpuSpec, has_image: bool) {
    if gpu.vendor.is_some() || gpu.count.max == Some(0) {
        return;
    }
    if gpu.names.is_empty() {
        if !has_image && gpu.count.min.is_some_and(|m| m > 0) {
            gpu.vendor = Some(GpuVendor::Nvidia);
        }
        return;
    }
    let vendors: Vec<Option<GpuVendor>> = gpu.names.iter().map(|n| vendor_of(n)).collect();
    if let Some(Some(first)) = vendors.first()
        && vendors.iter().all(|v| *v == Some(*first))
    {
        gpu.vendor = Some(*first);
    }
}

fn normalize_fleet(fleet: &mut FleetConfig) {
    fleet.placement.get_or_insert(Placement::Any);
    fleet.blocks.get_or_insert(Blocks::Count(1));
    fleet.env.0.sort_by(|a, b| a.name.cmp(&b.name));
    if fleet.ssh_config.is_none() {
        fleet.resources = Some(fleet_resources(&fleet.resources.take().unwrap_or_default()));
        normalize_profile(&mut fleet.profile, FLEET_IDLE_DEFAULT);
    }
}

fn normalize_volume(volume: &mut VolumeConfig) {
    if !volume.is_external() {
        volume
            .auto_cleanup_duration
            .get_or_insert(IdleDuration::Never);
    }
}

fn normalize_gateway(gateway: &mut GatewayConfig) {
    gateway.public_ip.get_or_insert(true);
    gateway.certificate.get_or_insert(Certificate::LetsEncrypt);
    gateway.replicas.get_or_insert(1);
}

/// One job of a run, before placement.
#[derive(Debug, Clone, PartialEq)]
pub struct JobShape {
    /// Job number.
    pub index: u32,
    /// Group name (`0` for the implicit group).
    pub group: String,
    /// Replica number (services).
    pub replica: u32,
    /// Node rank (tasks).
    pub node_rank: u32,
    /// What its machine must have.
    pub requirements: Requirements,
}

/// The jobs a normalised run starts with: task nodes, the minimum replicas
/// of each service group, or one dev environment.
pub fn run_jobs(config: &Configuration) -> Vec<JobShape> {
    let mut jobs = JobShapes::default();
    match config {
        Configuration::Task(task) => task_jobs(task, &mut jobs),
        Configuration::Service(service) => service_jobs(service, &mut jobs),
        Configuration::DevEnvironment(dev) => {
            jobs.push(
                "0",
                0,
                0,
                &dev.common.resources.clone().unwrap_or_default(),
                &dev.common.profile,
            );
        }
        _ => {}
    }
    jobs.0
}

/// Job shapes numbered in the order they are added.
#[derive(Default)]
struct JobShapes(Vec<JobShape>);

impl JobShapes {
    fn push(
        &mut self,
        group: &str,
        replica: u32,
        node_rank: u32,
        resources: &Resources,
        profile: &ProfileParams,
    ) {
        self.0.push(JobShape {
            index: self.0.len() as u32,
            group: group.to_string(),
            replica,
            node_rank,
            requirements: Requirements::from_config(resources, profile),
        });
    }
}

/// A task's nodes: each group's nodes, ranked across groups, or `nodes`
/// of the implicit group.
fn task_jobs(task: &TaskConfig, jobs: &mut JobShapes) {
    let profile = &task.common.profile;
    match &task.groups {
        Some(groups) => {
            let mut rank = 0;
            for (i, g) in groups.iter().enumerate() {
                let name = g.name.as_ref().map_or(i.to_string(), |n| n.to_string());
                for _ in 0..g.nodes.unwrap_or(1) {
                    jobs.push(
                        &name,
                        0,
                        rank,
                        g.resources.as_ref().unwrap_or(&Resources::default()),
                        profile,
                    );
                    rank += 1;
                }
            }
        }
        None => {
            let resources = task.common.resources.clone().unwrap_or_default();
            for rank in 0..task.nodes.unwrap_or(1) {
                jobs.push("0", 0, rank, &resources, profile);
            }
        }
    }
}

/// A service's minimum replicas: per group (with the group's spot policy),
/// or of the implicit group (at least one).
fn service_jobs(service: &ServiceConfig, jobs: &mut JobShapes) {
    let profile = &service.common.profile;
    match &service.groups {
        Some(groups) => {
            for (i, g) in groups.iter().enumerate() {
                let name = g.name.as_ref().map_or(i.to_string(), |n| n.to_string());
                let mut group_profile = profile.clone();
                if g.spot_policy.is_some() {
                    group_profile.spot_policy = g.spot_policy;
                }
                for replica in 0..g.replicas.min.unwrap_or(0) {
                    jobs.push(
                        &name,
                        replica,
                        0,
                        g.resources.as_ref().unwrap_or(&Resources::default()),
                        &group_profile,
                    );
                }
            }
        }
        None => {
            let resources = service.common.resources.clone().unwrap_or_default();
            let replicas = service.replicas.and_then(|r| r.min).unwrap_or(1);
            for replica in 0..replicas {
                jobs.push("0", replica, 0, &resources, profile);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::config::load_config;

    fn config(text: &str) -> Configuration {
        load_config("t.yml", text.as_bytes())
            .config()
            .cloned()
            .expect("valid")
    }

    #[test]
    fn explicit_defaults_normalise_equal() {
        let a = normalize(&config("type: task\ncommands: [x]\n"));
        let b = normalize(&config(
            "type: task\ncommands: [x]\nspot_policy: on-demand\nnodes: 1\nresources: {cpu: 'x86:2..', memory: 8GB.., disk: 100GB..}\nretry: false\nmax_duration: off\nidle_duration: 5m\npriority: 0\n",
        ));
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }

    #[test]
    fn retry_true_expands() {
        let retry = normalize_retry(Some(Retry::Enabled(true)));
        assert_eq!(serde_json::to_value(retry).unwrap()["duration"], "1h");
    }

    #[test]
    fn vendor_inference() {
        let c = normalize(&config(
            "type: task\ncommands: [x]\nresources: {gpu: MI300X:8}\n",
        ));
        let Configuration::Task(t) = c else { panic!() };
        assert_eq!(
            t.common.resources.unwrap().gpu.unwrap().vendor,
            Some(GpuVendor::Amd)
        );
    }

    #[test]
    fn jobs_of_runs() {
        assert_eq!(
            run_jobs(&normalize(&config("type: task\ncommands: [x]\nnodes: 3\n"))).len(),
            3
        );
        let svc = normalize(&config(
            "type: service\nport: 80\ncommands: [x]\nreplicas: 2..4\nscaling: {metric: rps, target: 1}\n",
        ));
        assert_eq!(run_jobs(&svc).len(), 2);
    }

    #[test]
    fn literal_registry_passwords_are_redacted() {
        let c = normalize(&config(
            "type: task\nimage: x\nregistry_auth: {username: u, password: hunter2}\n",
        ));
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
    }
}
