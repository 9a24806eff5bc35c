//! Property: the `Display` of every mini-grammar value parses back to the
//! same value, as text (`FromStr`) and through YAML (`load_config`), so what
//! plans and state print can be pasted back into a configuration.

use dstack_schemas::config::convert::{Cx, FromYaml};
use dstack_schemas::diag::SourceFile;
use dstack_schemas::grammar::{
    ComputeCapability, CpuArch, CpuSpec, Cron, DiskSpec, Duration, EnvEntry, EnvValue, FileMapping,
    GpuSpec, GpuVendor, IdleDuration, Memory, OffDuration, PortMapping, Range, ResourceName,
    Template, TemplatePart, VolumeMount,
};
use dstack_schemas::yaml::{Limits, parse_str};
use proptest::prelude::*;

/// Reads `v: <text>` through the YAML layer and converts `v`.
fn via_yaml<T: FromYaml>(text: &str) -> Option<T> {
    let file = SourceFile::new("t.yml", format!("v: {text}\n"));
    let node = parse_str(&file, &Limits::default()).ok()?;
    let mut cx = Cx::new(&file);
    let value = T::from_yaml(&node.get("v")?.value, &mut cx);
    assert_eq!(cx.error_count(), 0, "{text}: {:?}", cx.finish());
    value
}

/// The error messages of reading `text` as a `T`.
fn yaml_errors<T: FromYaml>(text: &str) -> Vec<String> {
    let file = SourceFile::new("t.yml", format!("v: {text}\n"));
    let node = parse_str(&file, &Limits::default()).expect("YAML");
    let mut cx = Cx::new(&file);
    let _ = node
        .get("v")
        .map(|entry| T::from_yaml(&entry.value, &mut cx));
    cx.finish().into_iter().map(|d| d.message).collect()
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn memory() -> impl Strategy<Value = Memory> + Clone {
    prop_oneof![
        (0u64..100_000).prop_map(Memory::from_gb),
        (0u64..10_000_000).prop_map(Memory::from_mb)
    ]
}

fn range_of<T: Copy + PartialOrd + std::fmt::Debug>(
    item: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Range<T>> {
    (
        proptest::option::of(item.clone()),
        proptest::option::of(item),
    )
        .prop_filter("a bound", |(a, b)| a.is_some() || b.is_some())
        .prop_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a > b => Range {
                min: Some(b),
                max: Some(a),
            },
            (min, max) => Range { min, max },
        })
}

fn gpu_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,8}".prop_filter("not a vendor", |n| {
        GpuVendor::parse(n).is_none() && !n.to_ascii_lowercase().starts_with("tpu-")
    })
}

fn vendor() -> impl Strategy<Value = GpuVendor> {
    proptest::sample::select(GpuVendor::ALL.to_vec())
}

fn gpu_string_form() -> impl Strategy<Value = GpuSpec> {
    (
        proptest::option::of(vendor()),
        proptest::collection::vec(gpu_name(), 0..3),
        proptest::option::of(
            range_of(memory()).prop_filter("has letters", |r| r.min.is_some() || r.max.is_some()),
        ),
        range_of(0u32..64),
    )
        // A vendor that contradicts a known name is an error, not a round trip.
        .prop_filter("vendor agrees with the names", |(vendor, names, _, _)| {
            vendor.is_none_or(|v| dstack_schemas::grammar::vendor_conflict(v, names).is_none())
        })
        .prop_map(|(vendor, names, memory, count)| GpuSpec {
            vendor,
            names,
            memory,
            count,
            total_memory: None,
            compute_capability: None,
        })
}

fn gpu_mapping_form() -> impl Strategy<Value = GpuSpec> {
    (
        gpu_string_form(),
        range_of(memory()),
        proptest::option::of((1u32..10, 0u32..10)),
    )
        .prop_map(|(mut spec, total, cc)| {
            spec.total_memory = Some(total);
            spec.compute_capability = cc.map(|(major, minor)| ComputeCapability { major, minor });
            spec
        })
}

fn cron_field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        (2u32..10).prop_map(|s| format!("*/{s}")),
        (min..=max).prop_map(|v| v.to_string()),
        (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (min..=max, min..=max, 2u32..5).prop_map(|(a, b, s)| format!(
            "{}-{}/{s}",
            a.min(b),
            a.max(b)
        )),
    ]
}

fn cron_text() -> impl Strategy<Value = String> {
    (
        cron_field(0, 59),
        cron_field(0, 23),
        cron_field(1, 31),
        cron_field(1, 12),
        cron_field(0, 7),
    )
        .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
}

/// Template structure without source offsets.
fn shape(t: &Template) -> Vec<(bool, String)> {
    t.parts
        .iter()
        .map(|p| match p {
            TemplatePart::Literal(s) => (false, s.clone()),
            TemplatePart::Var(v) => (true, v.path()),
        })
        .filter(|(var, s)| *var || !s.is_empty())
        .collect()
}

fn template() -> impl Strategy<Value = Template> {
    let part = prop_oneof![
        "[ -~]{0,12}".prop_map(TemplatePart::Literal),
        ("(env|secrets|run|dstack)", "[A-Za-z_][A-Za-z0-9_]{0,8}").prop_map(|(ns, name)| {
            TemplatePart::Var(dstack_schemas::grammar::TemplateVar {
                namespace: ns,
                name,
                offset: 0,
                len: 0,
            })
        }),
    ];
    proptest::collection::vec(part, 0..5).prop_map(|parts| {
        // Adjacent literals would merge when parsed; join them first.
        let mut merged: Vec<TemplatePart> = Vec::new();
        for p in parts {
            match (merged.last_mut(), p) {
                (Some(TemplatePart::Literal(a)), TemplatePart::Literal(b)) => a.push_str(&b),
                (_, p) => merged.push(p),
            }
        }
        Template { parts: merged }
    })
}

proptest! {
    #[test]
    fn memory_round_trips(m in memory()) {
        prop_assert_eq!(m.to_string().parse::<Memory>().unwrap(), m);
        prop_assert_eq!(via_yaml::<Memory>(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn count_ranges_round_trip(r in range_of(0u32..1000)) {
        prop_assert_eq!(via_yaml::<Range<u32>>(&quoted(&r.to_string())).unwrap(), r);
    }

    #[test]
    fn memory_ranges_round_trip(r in range_of(memory())) {
        prop_assert_eq!(via_yaml::<Range<Memory>>(&quoted(&r.to_string())).unwrap(), r);
    }

    #[test]
    fn gpu_string_form_round_trips(g in gpu_string_form()) {
        prop_assert_eq!(g.to_string().parse::<GpuSpec>().unwrap(), g.clone());
        prop_assert_eq!(via_yaml::<GpuSpec>(&quoted(&g.to_string())).unwrap(), g);
    }

    #[test]
    fn gpu_mapping_form_round_trips(g in gpu_mapping_form()) {
        prop_assert_eq!(via_yaml::<GpuSpec>(&g.to_string()).unwrap(), g);
    }

    #[test]
    fn cpu_round_trips(arch in proptest::option::of(prop_oneof![Just(CpuArch::X86), Just(CpuArch::Arm)]), count in range_of(1u32..512)) {
        let cpu = CpuSpec { arch, count };
        prop_assert_eq!(cpu.to_string().parse::<CpuSpec>().unwrap(), cpu);
        prop_assert_eq!(via_yaml::<CpuSpec>(&quoted(&cpu.to_string())).unwrap(), cpu);
    }

    #[test]
    fn zero_cpus_are_errors(max in proptest::option::of(0u32..512), upper_zero in any::<bool>()) {
        let count = if upper_zero { Range { min: None, max: Some(0) } } else { Range { min: Some(0), max } };
        prop_assert!(count.to_string().parse::<CpuSpec>().is_err());
        let errors = yaml_errors::<CpuSpec>(&quoted(&count.to_string()));
        prop_assert!(errors.len() == 1 && errors[0].contains("CPU count must be at least 1"), "{count}: {errors:?}");
    }

    #[test]
    fn disk_round_trips(size in range_of(memory())) {
        let disk = DiskSpec { size };
        prop_assert_eq!(via_yaml::<DiskSpec>(&quoted(&disk.to_string())).unwrap(), disk);
    }

    #[test]
    fn durations_round_trip(secs in 0u64..=dstack_schemas::grammar::MAX_DURATION_SECS) {
        let d = Duration::from_secs(secs);
        prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        prop_assert_eq!(via_yaml::<Duration>(&d.to_string()).unwrap(), d);
        let off = OffDuration::After(d);
        prop_assert_eq!(via_yaml::<OffDuration>(&off.to_string()).unwrap(), off);
        let idle = IdleDuration::After(d);
        prop_assert_eq!(via_yaml::<IdleDuration>(&idle.to_string()).unwrap(), idle);
    }

    #[test]
    fn durations_over_the_limit_are_errors(extra in 1u64..u64::MAX - dstack_schemas::grammar::MAX_DURATION_SECS) {
        let text = (dstack_schemas::grammar::MAX_DURATION_SECS + extra).to_string();
        for text in [text.clone(), format!("{text}s"), format!("'{text}'")] {
            let errors = yaml_errors::<Duration>(&text);
            prop_assert!(errors.len() == 1 && errors[0].contains("limit of 10 years"), "{text}: {errors:?}");
        }
    }

    #[test]
    fn ports_round_trip(local in proptest::option::of(1u16..), container in 1u16..) {
        let p = PortMapping { local, container };
        prop_assert_eq!(p.to_string().parse::<PortMapping>().unwrap(), p);
        prop_assert_eq!(via_yaml::<PortMapping>(&quoted(&p.to_string())).unwrap(), p);
    }

    #[test]
    fn env_entries_round_trip(name in "[A-Za-z_][A-Za-z0-9_]{0,10}", value in proptest::option::of("[ -~]{0,20}")) {
        let entry = EnvEntry {
            name,
            value: match value {
                Some(v) => EnvValue::Set(Template::literal(v)),
                None => EnvValue::Inherit,
            },
        };
        let back: EnvEntry = entry.to_string().parse().unwrap();
        prop_assert_eq!(back.to_string(), entry.to_string());
        prop_assert_eq!(&back.name, &entry.name);
    }

    #[test]
    fn mounts_round_trip(
        names in proptest::collection::vec("[a-z][a-z0-9-]{1,10}", 1..3),
        path in "(/[a-z]{1,5}){1,3}",
        host in "(/[a-z]{1,5}){1,3}",
        optional: bool,
        network: bool,
    ) {
        let mount = if network {
            VolumeMount::Network { names, path }
        } else {
            VolumeMount::Instance { instance_path: host, path, optional }
        };
        let text = mount.to_string();
        let yaml = if text.starts_with('{') { text.clone() } else { quoted(&text) };
        prop_assert_eq!(via_yaml::<VolumeMount>(&yaml).unwrap(), mount);
    }

    #[test]
    fn file_mappings_round_trip(local in "[a-z]{2,5}(/[a-z]{1,5}){0,2}", container in proptest::option::of("(/[a-z]{1,5}){1,2}")) {
        let f = FileMapping { local, container };
        prop_assert_eq!(f.to_string().parse::<FileMapping>().unwrap(), f);
    }

    #[test]
    fn cron_round_trips(text in cron_text()) {
        let cron: Cron = text.parse().unwrap();
        prop_assert_eq!(cron.to_string().parse::<Cron>().unwrap(), cron);
    }

    #[test]
    fn templates_round_trip(t in template()) {
        let back: Template = t.to_string().parse().unwrap();
        prop_assert_eq!(shape(&back), shape(&t));
    }

    #[test]
    fn names_round_trip(name in "[a-z][a-z0-9-]{1,40}") {
        let n: ResourceName = name.parse().unwrap();
        prop_assert_eq!(n.to_string().parse::<ResourceName>().unwrap(), n);
    }

    #[test]
    fn a_bad_name_suggests_a_valid_one(name in "\\PC{0,60}") {
        if let Err(err) = name.parse::<ResourceName>() {
            let help = err.help.unwrap_or_default();
            let example = help.rsplit("e.g. `").next().unwrap_or_default().trim_end_matches('`');
            prop_assert!(example.parse::<ResourceName>().is_ok(), "{name:?} suggests {example:?}");
        }
    }
}
