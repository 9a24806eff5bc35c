//! `dstack` end to end against the AWS backend on a real moto EC2 server
//! (one per test, on a free port of 127.0.0.1): a spot GPU fleet applied,
//! changed and destroyed; failover on an injected capacity error; a crash
//! between create and state write, then adoption; drift after changes made
//! behind dstack's back; orphans with their ghost spend; a volume attached
//! to the instance a run lands on; a gateway. After every destroy nothing
//! tagged `dstack:managed` is left alive in moto. Jobs use the fake runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use dstack_provider::{Provider, ResourceInfo};
use dstack_provider_aws::aws_sdk_ec2;
use dstack_provider_aws::moto::{ACCESS_KEY, Moto, SECRET_KEY};
use dstack_provider_aws::{AwsProvider, Limits, client::Clients};
use dstack_schemas::backends::AwsConfig;
use serde_json::Value;

use crate::harness::dstack_bin;

const REGION: &str = "us-east-1";

/// A project directory whose only backend is AWS on its own moto.
struct AwsProject {
    moto: Moto,
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl AwsProject {
    fn new(name: &str, local_runtime: &str) -> Self {
        let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("dstack-aws-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".dstack")).expect("project dir");
        let backends = format!(
            "backends:\n  - type: aws\n    regions: [{REGION}]\n    endpoint_url: {}\nlocal:\n  enabled: false\n  runtime: {local_runtime}\n",
            moto.endpoint()
        );
        std::fs::write(dir.join(".dstack/backends.yml"), backends).expect("backends");
        let runtime = tokio::runtime::Runtime::new().expect("tokio");
        Self { moto, dir, runtime }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).expect("write config");
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.join(file)).expect("remove config");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(dstack_bin());
        c.args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("DSTACK_PROJECT", "awstest")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("no-aws-credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("DSTACK_PROJECT_DIR")
            .env_remove("DSTACK_STATE")
            .env_remove("DSTACK_FAILPOINT");
        c
    }

    fn dstack(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("dstack runs")
    }

    /// Runs `dstack ARGS` and insists it succeeds; its stdout and stderr.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dstack(args);
        let text = text(&out);
        assert!(out.status.success(), "dstack {args:?} failed:\n{text}");
        text
    }

    fn plan_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["plan", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.dstack(&args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("plan json: {e}\n{}", text(&out)))
    }

    fn recorded(&self, address: &str) -> Value {
        let out = self.dstack(&["state", "show", address]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn config(&self) -> AwsConfig {
        AwsConfig {
            regions: vec![REGION.into()],
            endpoint_url: Some(self.moto.endpoint().into()),
            ..AwsConfig::default()
        }
    }

    /// The provider, for acting and looking behind dstack's back.
    fn provider(&self) -> AwsProvider {
        AwsProvider::new(self.config(), "awstest")
            .expect("config")
            .with_static_credentials(ACCESS_KEY, SECRET_KEY)
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        let clients = self.runtime.block_on(Clients::load(
            &self.config(),
            Limits::default(),
            Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        ));
        clients.get(REGION).expect("client").clone()
    }

    /// Live resources tagged as dstack's, by address tag.
    fn owned(&self) -> BTreeMap<String, Vec<ResourceInfo>> {
        let listed = self
            .runtime
            .block_on(self.provider().list_owned())
            .expect("list owned");
        let mut out: BTreeMap<String, Vec<ResourceInfo>> = BTreeMap::new();
        for r in listed {
            let address = r.address().map_or("?".into(), |a| a.to_string());
            out.entry(address).or_default().push(r);
        }
        out
    }

    /// Everything in moto tagged `dstack:managed=true` that still exists,
    /// asked of EC2 directly (not through the provider).
    fn alive_tagged(&self) -> Vec<String> {
        let ec2 = self.ec2();
        let managed = aws_sdk_ec2::types::Filter::builder()
            .name("tag:dstack:managed")
            .values("true")
            .build();
        self.runtime.block_on(async {
            let mut out = Vec::new();
            let instances = ec2
                .describe_instances()
                .filters(managed.clone())
                .send()
                .await
                .expect("instances");
            for i in instances.reservations().iter().flat_map(|r| r.instances()) {
                let state = i.state().and_then(|s| s.name()).map(|n| n.as_str());
                if state != Some("terminated") {
                    out.push(format!("{} {state:?}", i.instance_id().unwrap_or("?")));
                }
            }
            let volumes = ec2.describe_volumes().filters(managed.clone()).send().await;
            for v in volumes.expect("volumes").volumes() {
                out.push(v.volume_id().unwrap_or("?").to_string());
            }
            let addresses = ec2
                .describe_addresses()
                .filters(managed.clone())
                .send()
                .await;
            for a in addresses.expect("addresses").addresses() {
                out.push(a.allocation_id().unwrap_or("?").to_string());
            }
            let groups = ec2.describe_security_groups().filters(managed).send().await;
            for g in groups.expect("groups").security_groups() {
                out.push(g.group_id().unwrap_or("?").to_string());
            }
            out
        })
    }
}

impl Drop for AwsProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fleet(name: &str, nodes: u32, extra: &str) -> String {
    format!("type: fleet\nname: {name}\nnodes: {nodes}\nbackends: [aws]\n{extra}")
}

const SPOT_A10G: &str = "spot_policy: spot\nresources:\n  gpu: A10G\n";

#[test]
fn a_spot_gpu_fleet_is_applied_changed_and_destroyed_leaving_nothing_tagged() {
    let p = AwsProject::new("fleet", "fake");
    p.write("fleet.dstack.yml", &fleet("gpu", 2, SPOT_A10G));
    p.ok(&["apply", "-y"]);
    let owned = p.owned();
    for n in 0..2 {
        let address = format!("fleet/gpu/instance/{n}");
        let found = &owned[&address];
        assert_eq!(found.len(), 1, "{address}: {found:?}");
        assert_eq!(found[0].data["lifecycle"], "spot", "{address}");
        let gpu = found[0].offer.as_ref().and_then(|o| o.gpu.clone());
        assert_eq!(gpu.map(|g| g.name), Some("A10G".to_string()));
        let row = p.recorded(&address);
        assert_eq!(row["provider_id"], found[0].provider_id.as_str());
        assert!(row["data"]["runner"]["url"].as_str().is_some(), "{row}");
    }
    assert_eq!(
        p.dstack(&["plan", "--detailed-exitcode"]).status.code(),
        Some(0),
        "a re-plan after apply is a no-op"
    );

    p.write("fleet.dstack.yml", &fleet("gpu", 3, SPOT_A10G));
    let plan = p.plan_json(&[]);
    let creates: Vec<&str> = plan["resource_changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["actions"] == serde_json::json!(["create"]))
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert_eq!(creates, vec!["fleet/gpu/instance/2"], "{plan}");
    p.ok(&["apply", "-y"]);
    assert_eq!(
        p.owned()
            .keys()
            .filter(|a| a.starts_with("fleet/gpu/"))
            .count(),
        3
    );

    p.ok(&["destroy", "-y"]);
    assert!(p.owned().is_empty());
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}

#[test]
fn an_injected_capacity_error_fails_over_to_the_next_offer_and_says_why() {
    let p = AwsProject::new("failover", "fake");
    p.write("fleet.dstack.yml", &fleet("gpu", 1, SPOT_A10G));
    let plan = p.plan_json(&[]);
    let change = plan["resource_changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == "fleet/gpu/instance/0")
        .expect("the instance is planned");
    let first = change["offer"]["instance_type"]
        .as_str()
        .expect("offer")
        .to_string();
    let next = change["fallback_offers"][0]["instance_type"]
        .as_str()
        .expect("a fallback offer")
        .to_string();
    assert_ne!(first, next);
    p.moto
        .set_faults(&serde_json::json!([
            {"action": "RunInstances", "instance_type": first, "market": "spot"}
        ]))
        .expect("faults");
    let out = p.ok(&["apply", "-y"]);
    assert!(
        out.contains(&format!(
            "aws/us-east-1/{first}/spot: no capacity; trying the next offer"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("(after: {first} (us-east-1): no capacity)")),
        "{out}"
    );
    let created = &p.owned()["fleet/gpu/instance/0"];
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].data["instance_type"], next.as_str());
    assert_eq!(
        p.moto.faults().expect("faults")["fired"],
        serde_json::json!([1])
    );
}

#[test]
fn spot_policy_auto_tries_spot_first_then_on_demand() {
    let p = AwsProject::new("auto", "fake");
    p.write(
        "fleet.dstack.yml",
        &fleet(
            "auto",
            1,
            "spot_policy: auto\ninstance_types: [g5.xlarge]\nresources:\n  gpu: A10G:1\n",
        ),
    );
    p.moto
        .set_faults(&serde_json::json!([{"action": "RunInstances", "market": "spot"}]))
        .expect("faults");
    let out = p.ok(&["apply", "-y"]);
    assert!(
        out.contains("aws/us-east-1/g5.xlarge/spot: no capacity; trying the next offer"),
        "{out}"
    );
    let created = &p.owned()["fleet/auto/instance/0"];
    assert_eq!(created[0].data["lifecycle"], "on-demand");
    assert_eq!(
        p.recorded("fleet/auto/instance/0")["price_per_hour"],
        serde_json::json!(1.006),
        "recorded at the on-demand price it runs at"
    );
}

#[test]
fn a_crash_between_create_and_state_write_is_adopted_on_the_next_apply() {
    let p = AwsProject::new("crash", "fake");
    p.write("fleet.dstack.yml", &fleet("crash", 1, SPOT_A10G));
    let out = p
        .command(&["apply", "-y"])
        .env("DSTACK_FAILPOINT", "after-create:fleet/crash/instance/0")
        .output()
        .expect("dstack runs");
    assert!(
        !out.status.success(),
        "the failpoint did not fire:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("failpoint after-create"),
        "{}",
        text(&out)
    );
    // The instance exists in EC2 but state does not know it.
    assert_eq!(p.owned()["fleet/crash/instance/0"].len(), 1);
    assert_eq!(p.recorded("fleet/crash/instance/0"), Value::Null);

    let out = p.ok(&["apply", "-y"]);
    assert!(out.contains("adopted"), "{out}");
    let owned = p.owned();
    let alive = &owned["fleet/crash/instance/0"];
    assert_eq!(alive.len(), 1, "a second instance was created: {alive:?}");
    assert_eq!(
        p.recorded("fleet/crash/instance/0")["provider_id"],
        alive[0].provider_id.as_str()
    );
    assert_eq!(
        p.dstack(&["plan", "--detailed-exitcode"]).status.code(),
        Some(0)
    );
    p.ok(&["destroy", "-y"]);
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}

#[test]
fn refresh_reports_changes_made_behind_dstacks_back_as_drift() {
    let p = AwsProject::new("drift", "fake");
    p.write(
        "fleet.dstack.yml",
        &fleet("drifty", 3, "resources:\n  cpu: 2\n  memory: 8GB\n"),
    );
    p.ok(&["apply", "-y"]);
    let id = |n: u32| {
        p.recorded(&format!("fleet/drifty/instance/{n}"))["provider_id"]
            .as_str()
            .expect("recorded id")
            .to_string()
    };
    let (gone, stopped, retyped) = (id(0), id(1), id(2));
    let ec2 = p.ec2();
    p.runtime.block_on(async {
        p.provider()
            .delete_instance(&gone)
            .await
            .expect("terminate");
        ec2.stop_instances()
            .instance_ids(&stopped)
            .send()
            .await
            .expect("stop");
        ec2.modify_instance_attribute()
            .instance_id(&retyped)
            .instance_type(
                aws_sdk_ec2::types::AttributeValue::builder()
                    .value("m5.2xlarge")
                    .build(),
            )
            .send()
            .await
            .expect("retype");
    });
    assert!(
        p.plan_json(&[])["resource_drift"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
        "drift is only reported with --refresh"
    );
    let plan = p.plan_json(&["--refresh"]);
    let drift: BTreeMap<String, String> = plan["resource_drift"]
        .as_array()
        .expect("drift section")
        .iter()
        .map(|d| {
            (
                d["address"].as_str().unwrap_or("?").to_string(),
                d["drift"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert_eq!(
        drift,
        BTreeMap::from([
            ("fleet/drifty/instance/0".to_string(), "deleted".to_string()),
            (
                "fleet/drifty/instance/1".to_string(),
                "interrupted".to_string()
            ),
            ("fleet/drifty/instance/2".to_string(), "changed".to_string()),
        ]),
        "{plan}"
    );
    let out = p.ok(&["plan", "--refresh"]);
    assert!(
        out.contains("Objects have changed outside of dstack"),
        "{out}"
    );
    p.ok(&["destroy", "-y"]);
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}

#[test]
fn orphans_are_listed_with_their_ghost_spend_and_destroyed_on_request() {
    let p = AwsProject::new("orphans", "fake");
    p.write(
        "fleet.dstack.yml",
        &fleet("orph", 2, "resources:\n  cpu: 2\n  memory: 8GB\n"),
    );
    p.ok(&["apply", "-y"]);
    let forgotten = p.recorded("fleet/orph/instance/1")["provider_id"]
        .as_str()
        .expect("id")
        .to_string();
    p.ok(&["state", "rm", "fleet/orph/instance/1"]);
    let plan = p.plan_json(&[]);
    let orphans = plan["orphans"].as_array().expect("orphans section");
    assert_eq!(orphans.len(), 1, "{plan}");
    assert_eq!(orphans[0]["provider_id"], forgotten.as_str());
    assert_eq!(orphans[0]["address"], "fleet/orph/instance/1");
    assert!(
        orphans[0]["rate"].as_f64().is_some_and(|r| r > 0.0),
        "{plan}"
    );
    let out = p.ok(&["plan"]);
    assert!(out.contains("ghost spend"), "{out}");
    let out = p.ok(&["destroy", "--orphans", "-y"]);
    assert!(out.contains(&format!("{forgotten}: deleted")), "{out}");
    assert!(
        !p.owned()
            .values()
            .flatten()
            .any(|r| r.provider_id == forgotten)
    );
    p.ok(&["destroy", "-y"]);
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}

#[test]
fn a_volume_is_attached_to_the_instance_a_run_lands_on_and_detached_when_it_stops() {
    let p = AwsProject::new("volume", "fake-long");
    p.write(
        "volume.dstack.yml",
        "type: volume\nname: data\nbackend: aws\nregion: us-east-1\nsize: 10GB\n",
    );
    p.write(
        "fleet.dstack.yml",
        &fleet("fl", 1, "resources:\n  cpu: 2\n  memory: 8GB\n"),
    );
    p.write(
        "task.dstack.yml",
        "type: task\nname: train\ncommands: [echo hi]\nfleets: [fl]\nresources:\n  cpu: 2\n  memory: 8GB\nvolumes: [data:/data]\n",
    );
    p.ok(&["apply", "-y"]);
    let instance = p.recorded("fleet/fl/instance/0")["provider_id"]
        .as_str()
        .expect("instance id")
        .to_string();
    let volume = p.recorded("volume/data")["provider_id"]
        .as_str()
        .expect("volume id")
        .to_string();
    let attached = |p: &AwsProject| {
        p.owned()["volume/data"][0].data["attached_to"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(attached(&p), Some(instance.clone()));
    let job = p.recorded("run/train/job/0");
    assert_eq!(
        job["data"]["attached"][0]["volume_id"],
        volume.as_str(),
        "{job}"
    );

    p.remove("task.dstack.yml");
    p.ok(&["apply", "-y"]);
    assert_eq!(attached(&p), None, "stopping the run detaches its volume");

    // Removing the volume's configuration never deletes it.
    p.remove("volume.dstack.yml");
    p.ok(&["apply", "-y"]);
    assert!(
        p.owned().contains_key("volume/data"),
        "a volume was deleted implicitly"
    );
    p.ok(&["destroy", "-y"]);
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}

#[test]
fn a_gateway_gets_an_instance_an_elastic_ip_and_a_group_and_loses_them_on_destroy() {
    let p = AwsProject::new("gateway", "fake");
    p.write(
        "gateway.dstack.yml",
        "type: gateway\nname: gw\nbackend: aws\nregion: us-east-1\ndomain: example.com\n",
    );
    p.ok(&["apply", "-y"]);
    let row = p.recorded("gateway/gw");
    let ip = row["data"]["ip"].as_str().expect("gateway ip").to_string();
    let owned = p.owned();
    let gw = &owned["gateway/gw"];
    assert_eq!(gw.len(), 1, "{gw:?}");
    assert_eq!(gw[0].data["ip"], ip.as_str());
    assert_eq!(p.alive_tagged().len(), 3, "instance, address, group");
    p.ok(&["destroy", "-y"]);
    assert_eq!(p.alive_tagged(), Vec::<String>::new());
}
