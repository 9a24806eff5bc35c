//! The grammar types (names, sizes, ranges, GPU/CPU/disk specs, ports,
//! mounts, file mappings, cron) read from YAML: scalars through their
//! `FromStr` grammar, mappings field by field.

use super::convert::{Cx, Fields, FromYaml, LooseString, from_text};
use crate::diag::Diagnostic;
use crate::grammar::{
    ComputeCapability, CpuArch, CpuSpec, Cron, DiskSpec, FileMapping, GpuSpec, GpuVendor,
    GrammarError, GroupName, Memory, PortMapping, Range, ResourceName, Template, VolumeMount,
};
use crate::yaml::{Node, Value};

impl FromYaml for ResourceName {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_name")
    }
}

impl FromYaml for GroupName {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let LooseString(text) = LooseString::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_name")
    }
}

impl FromYaml for Template {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_template")
    }
}

impl FromYaml for Memory {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(i, t) => grammar_result(Memory::from_gb_f64(*i as f64), node, t, cx),
            Value::Float(f, t) => grammar_result(Memory::from_gb_f64(*f), node, t, cx),
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_size"),
            _ => {
                cx.expected(node, "a size such as `80GB`");
                None
            }
        }
    }
}

fn grammar_result<T>(
    result: Result<T, GrammarError>,
    node: &Node,
    text: &str,
    cx: &mut Cx,
) -> Option<T> {
    result
        .map_err(|e| cx.grammar(node, text, e, "dstack::config::invalid_value"))
        .ok()
}

/// A range of `T` from a scalar (`2`, `2..8`) or a mapping (`{min, max}`).
fn range_from_yaml<T>(
    node: &Node,
    cx: &mut Cx,
    what: &str,
    item: fn(&Node, &mut Cx) -> Option<T>,
    item_text: fn(&str) -> Result<T, GrammarError>,
) -> Option<Range<T>>
where
    T: Copy + PartialOrd + std::fmt::Display,
{
    match &node.value {
        Value::Str(s) => match Range::parse_with(s, item_text) {
            Ok(r) => Some(r),
            Err(err) => {
                cx.grammar(node, s, err, "dstack::config::invalid_range");
                None
            }
        },
        Value::Map(_) => {
            let f = cx.fields(node, what, &["min", "max"])?;
            let before = cx.error_count();
            let range = Range {
                min: f.value("min").and_then(|n| item(n, cx)),
                max: f.value("max").and_then(|n| item(n, cx)),
            };
            if cx.error_count() > before {
                return None;
            }
            if range.min.is_none() && range.max.is_none() {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::invalid_range",
                        format!("{what} range has no bounds"),
                    )
                    .at(node.span, "empty range")
                    .help("set `min`, `max` or both"),
                );
                return None;
            }
            if let Err(err) = range.check_order() {
                let mut diag = Diagnostic::error("dstack::config::invalid_range", err.message)
                    .at(f.key_span("min"), "minimum")
                    .also(f.key_span("max"), "maximum");
                if let Some(help) = err.help {
                    diag = diag.help(help);
                }
                cx.push(diag);
                return None;
            }
            Some(range)
        }
        Value::Null | Value::Seq(_) | Value::Bool(..) => {
            cx.expected(node, &format!("a {what} or range such as `1..4`"));
            None
        }
        _ => item(node, cx).map(Range::exact),
    }
}

/// A count range (`2`, `1..`, `{min: 1, max: 4}`), counts being non-negative.
pub fn count_range(node: &Node, cx: &mut Cx, what: &str) -> Option<Range<u32>> {
    range_from_yaml(node, cx, what, u32::from_yaml, |t| {
        crate::grammar::parse_count(t, "count")
    })
}

impl FromYaml for Range<u32> {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        count_range(node, cx, "count")
    }
}

impl FromYaml for Range<Memory> {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        range_from_yaml(node, cx, "size", Memory::from_yaml, |t| t.parse())
    }
}

impl FromYaml for GpuSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_gpu"),
            Value::Int(..) => {
                u32::from_yaml(node, cx).map(|n| GpuSpec::with_count(Range::exact(n)))
            }
            Value::Map(_) => gpu_mapping(node, cx),
            _ => {
                cx.expected(node, "a GPU spec such as `A100:80GB:2` or a mapping");
                None
            }
        }
    }
}

fn gpu_mapping(node: &Node, cx: &mut Cx) -> Option<GpuSpec> {
    let f = cx.fields(
        node,
        "gpu",
        &[
            "vendor",
            "name",
            "count",
            "memory",
            "total_memory",
            "compute_capability",
        ],
    )?;
    let before = cx.error_count();
    let vendor = read_gpu_vendor(&f, cx);
    let names = read_gpu_names(&f, cx);
    let count = f.value("count").map(|n| count_range(n, cx, "GPU count"));
    let memory = f.opt::<Range<Memory>>(cx, "memory");
    let total_memory = f.opt::<Range<Memory>>(cx, "total_memory");
    let compute_capability = read_compute_capability(&f, cx);
    if let (Some(vendor), Some(names), Some(n)) = (vendor, &names, f.value("name"))
        && let Some(conflict) = crate::grammar::vendor_conflict(vendor, names)
    {
        let span = match &n.value {
            Value::Seq(items) => items.get(conflict.index).map_or(n.span, |i| i.span),
            _ => n.span,
        };
        cx.push(
            Diagnostic::error("dstack::config::invalid_gpu", conflict.message)
                .at(span, "another vendor's GPU")
                .also(
                    f.value("vendor").map_or(f.key_span("vendor"), |v| v.span),
                    "the vendor given",
                )
                .help(conflict.help),
        );
    }
    if cx.error_count() > before {
        return None;
    }
    Some(GpuSpec {
        vendor,
        names: names.unwrap_or_default(),
        memory,
        count: count.flatten().unwrap_or(Range::at_least(1)),
        total_memory,
        compute_capability,
    })
}

/// `vendor:` of a GPU mapping, reported when unknown.
fn read_gpu_vendor(f: &Fields, cx: &mut Cx) -> Option<GpuVendor> {
    f.value("vendor").and_then(|n| {
        let text = LooseString::from_yaml(n, cx)?.0;
        let vendor = GpuVendor::parse(&text);
        if vendor.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_gpu",
                    format!("unknown GPU vendor `{text}`"),
                )
                .at(n.span, "unknown vendor")
                .help("vendors are nvidia, amd, google (tpu), intel, tenstorrent (tt)"),
            );
        }
        vendor
    })
}

/// `name:` of a GPU mapping: one name or a list, normalised.
fn read_gpu_names(f: &Fields, cx: &mut Cx) -> Option<Vec<String>> {
    match f.value("name") {
        Some(n) if n.as_str().is_some() || matches!(n.value, Value::Int(..)) => {
            LooseString::from_yaml(n, cx).map(|s| vec![crate::grammar::normalize_gpu_name(&s.0)])
        }
        Some(n) => Vec::<LooseString>::from_yaml(n, cx).map(|v| {
            v.into_iter()
                .map(|s| crate::grammar::normalize_gpu_name(&s.0))
                .collect()
        }),
        None => Some(Vec::new()),
    }
}

/// `compute_capability:` as `8.0` or `[8, 0]`.
fn read_compute_capability(f: &Fields, cx: &mut Cx) -> Option<ComputeCapability> {
    f.value("compute_capability").and_then(|n| {
        let text = match &n.value {
            Value::Seq(items) if items.len() == 2 => {
                format!(
                    "{}.{}",
                    items[0].text().unwrap_or("?"),
                    items[1].text().unwrap_or("?")
                )
            }
            _ => LooseString::from_yaml(n, cx)?.0,
        };
        from_text(n, &text, cx, "dstack::config::invalid_gpu")
    })
}

impl FromYaml for CpuSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let spec = cpu_spec(node, cx)?;
        match CpuSpec::check_count(&spec.count) {
            Ok(()) => Some(spec),
            Err(err) => {
                let text = node.text().unwrap_or_default().to_string();
                cx.grammar(node, &text, err, "dstack::config::invalid_cpu");
                None
            }
        }
    }
}

/// A CPU spec in any form, before its count is checked.
fn cpu_spec(node: &Node, cx: &mut Cx) -> Option<CpuSpec> {
    match &node.value {
        Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_cpu"),
        Value::Int(..) => u32::from_yaml(node, cx).map(|n| CpuSpec {
            arch: None,
            count: Range::exact(n),
        }),
        Value::Map(entries) if entries.iter().any(|e| e.key == "min" || e.key == "max") => {
            count_range(node, cx, "CPU count").map(|count| CpuSpec { arch: None, count })
        }
        Value::Map(_) => {
            let f = cx.fields(node, "cpu", &["arch", "count"])?;
            let arch = f.value("arch").and_then(|n| {
                let text = String::from_yaml(n, cx)?;
                let arch = CpuArch::parse(&text);
                if arch.is_none() {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::invalid_cpu",
                            format!("`{text}` is not a CPU architecture"),
                        )
                        .at(n.span, "unknown architecture")
                        .help("architectures are `x86` and `arm`"),
                    );
                }
                arch
            });
            let count = f.value("count").map(|n| count_range(n, cx, "CPU count"));
            if f.has("arch") && arch.is_none() || count.as_ref().is_some_and(Option::is_none) {
                return None;
            }
            Some(CpuSpec {
                arch,
                count: count.flatten().unwrap_or(CpuSpec::default().count),
            })
        }
        _ => {
            cx.expected(node, "a CPU spec such as `8`, `4..` or `arm:8`");
            None
        }
    }
}

impl FromYaml for DiskSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Map(entries) if entries.iter().any(|e| e.key == "size") => {
                let f = cx.fields(node, "disk", &["size"])?;
                f.req::<Range<Memory>>(cx, "size")
                    .map(|size| DiskSpec { size })
            }
            _ => Range::<Memory>::from_yaml(node, cx).map(|size| DiskSpec { size }),
        }
    }
}

impl FromYaml for PortMapping {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(..) => {
                let text = node.text().unwrap_or_default().to_string();
                from_text(node, &text, cx, "dstack::config::invalid_port")
            }
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_port"),
            Value::Map(_) => {
                let f = cx.fields(node, "port", &["local_port", "container_port"])?;
                let container = f.req::<u16>(cx, "container_port");
                let local = f.opt::<u16>(cx, "local_port");
                for key in ["container_port", "local_port"] {
                    if let Some(n) = f.value(key)
                        && matches!(n.value, Value::Int(0, _))
                    {
                        cx.push(
                            Diagnostic::error(
                                "dstack::config::invalid_port",
                                "port 0 is out of range 1..65535",
                            )
                            .at(n.span, "here"),
                        );
                        return None;
                    }
                }
                Some(PortMapping {
                    local,
                    container: container?,
                })
            }
            _ => {
                cx.expected(node, "a port such as `8000` or `8080:80`");
                None
            }
        }
    }
}

impl FromYaml for VolumeMount {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_mount"),
            Value::Map(entries) if entries.iter().any(|e| e.key == "instance_path") => {
                let f = cx.fields(node, "volume mount", &["instance_path", "path", "optional"])?;
                let instance_path = f.req::<String>(cx, "instance_path");
                let path = f.req::<String>(cx, "path");
                let optional = f.opt::<bool>(cx, "optional").unwrap_or(false);
                check_path(
                    &f,
                    cx,
                    "instance_path",
                    instance_path.as_deref(),
                    "instance",
                )?;
                check_path(&f, cx, "path", path.as_deref(), "container")?;
                Some(VolumeMount::Instance {
                    instance_path: instance_path?,
                    path: path?,
                    optional,
                })
            }
            Value::Map(_) => {
                let f = cx.fields(node, "volume mount", &["name", "path"])?;
                let names = match f.value("name") {
                    Some(n) if n.as_str().is_some() => String::from_yaml(n, cx).map(|s| vec![s]),
                    Some(n) => Vec::<String>::from_yaml(n, cx),
                    None => {
                        cx.push(f.missing("name"));
                        None
                    }
                };
                let path = f.req::<String>(cx, "path");
                check_path(&f, cx, "path", path.as_deref(), "container")?;
                Some(VolumeMount::Network {
                    names: names?,
                    path: path?,
                })
            }
            _ => {
                cx.expected(node, "a mount such as `data:/data`");
                None
            }
        }
    }
}

fn check_path(f: &Fields, cx: &mut Cx, key: &str, path: Option<&str>, side: &str) -> Option<()> {
    let path = path?;
    match crate::grammar::check_mount_path(path, side) {
        Ok(()) => Some(()),
        Err(err) => {
            if let Some(n) = f.value(key) {
                cx.grammar(n, path, err, "dstack::config::invalid_mount");
            }
            None
        }
    }
}

impl FromYaml for FileMapping {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_files"),
            Value::Map(_) => {
                let f = cx.fields(node, "file mapping", &["local_path", "path"])?;
                let local = f.req::<String>(cx, "local_path");
                let container = f.opt::<String>(cx, "path");
                Some(FileMapping {
                    local: local?,
                    container,
                })
            }
            _ => {
                cx.expected(
                    node,
                    "a file mapping such as `train.py` or `src:/workflow/src`",
                );
                None
            }
        }
    }
}

impl FromYaml for Cron {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_cron")
    }
}
