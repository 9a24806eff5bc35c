//! `dstack fleet|volume|gateway [list|get]`: tables for people, versioned
//! documents for programs ([`dstack_schemas::inspect`]).

use std::io::IsTerminal;
use std::time::Duration;

use dstack_schemas::addr::ResourceKind;
use dstack_schemas::inspect::{INSPECT_FORMAT_VERSION, ResourceDoc, ResourceListDoc, ResourceView};
use dstack_schemas::recorded::GatewayData;

use super::jobs::{age, table};
use super::resource_views::{find, views};
use crate::cli_resources::{GetArgs, ListArgs};
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;

/// `dstack KIND [list]`.
pub fn list(
    options: &ProjectOptions,
    kind: ResourceKind,
    args: &ListArgs,
) -> Result<i32, CliError> {
    if args.json && args.watch {
        return Err(CliError::Usage(
            "--json and --watch cannot be used together".into(),
        ));
    }
    let project = Project::open(options)?;
    let rt = tokio::runtime::Runtime::new()?;
    loop {
        super::jobs::sync_quietly(&project, project.runtime().as_ref(), &rt);
        let items = views(&project, kind)?;
        if args.json {
            let doc = ResourceListDoc {
                format_version: INSPECT_FORMAT_VERSION.into(),
                kind: kind.to_string(),
                items,
            };
            print_json(&doc)?;
            return Ok(0);
        }
        if args.watch && std::io::stdout().is_terminal() {
            out!("\x1b[2J\x1b[H")?;
        }
        out!("{}", render_list(kind, &items, args.verbose))?;
        crate::output::flush()?;
        if !args.watch || interrupted_while_waiting(&rt) {
            return Ok(0);
        }
    }
}

/// Sleeps 2 s; true when Ctrl+C came first.
fn interrupted_while_waiting(rt: &tokio::runtime::Runtime) -> bool {
    rt.block_on(async {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
            _ = tokio::signal::ctrl_c() => true,
        }
    })
}

pub(super) fn print_json<T: serde::Serialize>(doc: &T) -> Result<(), CliError> {
    outln!(
        "{}",
        serde_json::to_string_pretty(doc).map_err(anyhow::Error::from)?
    )?;
    Ok(())
}

/// The resource named, or a usage error that says how to list them.
pub(super) fn require(
    project: &Project,
    kind: ResourceKind,
    name: &str,
) -> Result<ResourceView, CliError> {
    find(project, kind, name)?.ok_or_else(|| {
        CliError::Usage(format!(
            "there is no {kind} named {name} in state; `dstack {kind}` lists them"
        ))
    })
}

/// `dstack KIND get NAME [--json]`.
pub fn get(options: &ProjectOptions, kind: ResourceKind, args: &GetArgs) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    let rt = tokio::runtime::Runtime::new()?;
    super::jobs::sync_quietly(&project, project.runtime().as_ref(), &rt);
    let resource = require(&project, kind, &args.name)?;
    if args.json {
        print_json(&ResourceDoc {
            format_version: INSPECT_FORMAT_VERSION.into(),
            resource,
        })?;
    } else {
        out!("{}", render_one(&resource))?;
    }
    Ok(0)
}

fn price(p: Option<f64>) -> String {
    p.map_or("-".into(), |p| format!("${p:.4}"))
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn created(ms: i64) -> String {
    if ms == 0 { "built-in".into() } else { age(ms) }
}

fn render_list(kind: ResourceKind, items: &[ResourceView], verbose: bool) -> String {
    if items.is_empty() {
        return format!("No {kind}s. Define one in a `type: {kind}` file and `dstack apply` it.\n");
    }
    let mut header = vec!["NAME", "BACKEND", "REGION", "PRICE", "STATUS", "CREATED"];
    header.extend(extra_header(kind));
    if verbose {
        header.push("ID");
        header.push(if kind == ResourceKind::Fleet {
            "JOBS"
        } else {
            "USED BY"
        });
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for item in items {
        let mut row = vec![
            item.name.clone(),
            dash(&item.backend),
            dash(&item.region),
            price(item.price_per_hour),
            item.status.clone(),
            created(item.created_at),
        ];
        row.extend(extra_cells(item));
        if verbose {
            row.push(dash(&item.provider_id));
            row.push(item.used_by.join(", "));
        }
        rows.push(row);
        for i in &item.instances {
            let mut row = vec![
                format!("  instance={}", i.num),
                dash(&i.backend),
                dash(&i.region),
                price(i.price_per_hour),
                i.status.clone(),
                String::new(),
            ];
            row.extend(extra_header(kind).iter().map(|_| String::new()));
            if verbose {
                row.push(dash(&i.provider_id));
                row.push(i.jobs.join(", "));
            }
            rows.push(row);
        }
    }
    table(&rows)
}

/// Columns only one kind has (dstack's: a gateway's domain and default,
/// a volume's size).
fn extra_header(kind: ResourceKind) -> Vec<&'static str> {
    match kind {
        ResourceKind::Gateway => vec!["HOSTNAME", "DOMAIN", "DEFAULT"],
        ResourceKind::Volume => vec!["SIZE"],
        _ => Vec::new(),
    }
}

fn extra_header_for(kind: &str) -> Vec<&'static str> {
    match kind {
        "gateway" => extra_header(ResourceKind::Gateway),
        "volume" => extra_header(ResourceKind::Volume),
        _ => Vec::new(),
    }
}

fn extra_cells(item: &ResourceView) -> Vec<String> {
    let spec = |k: &str| item.spec.get(k).and_then(|v| v.as_str()).map(String::from);
    match item.kind.as_str() {
        "gateway" => vec![
            dash(&dstack_schemas::recorded::decode::<GatewayData>(&item.data).ip),
            dash(&spec("domain")),
            if item.spec.get("default") == Some(&serde_json::Value::Bool(true)) {
                "yes".into()
            } else {
                "-".into()
            },
        ],
        "volume" => vec![dash(&spec("size"))],
        _ => Vec::new(),
    }
}

fn render_one(r: &ResourceView) -> String {
    let mut out = format!(
        "{} {}\n  status:   {}\n  backend:  {}\n  region:   {}\n  id:       {}\n  price:    {}\n  created:  {}\n",
        r.kind,
        r.name,
        r.status,
        dash(&r.backend),
        dash(&r.region),
        dash(&r.provider_id),
        price(r.price_per_hour),
        created(r.created_at)
    );
    for (name, value) in extra_header_for(&r.kind).iter().zip(extra_cells(r)) {
        out.push_str(&format!(
            "  {:<9} {value}\n",
            format!("{}:", name.to_lowercase())
        ));
    }
    if !r.used_by.is_empty() {
        out.push_str(&format!("  used by:  {}\n", r.used_by.join(", ")));
    }
    if r.kind != "fleet" {
        return out;
    }
    let mut rows = vec![
        [
            "INSTANCE",
            "STATUS",
            "RESOURCES",
            "SPOT",
            "PRICE",
            "BACKEND",
            "REGION",
            "JOBS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in &r.instances {
        rows.push(vec![
            i.num.to_string(),
            i.status.clone(),
            dash(&i.resources),
            i.spot
                .map_or("-".into(), |s| if s { "spot" } else { "on-demand" }.into()),
            price(i.price_per_hour),
            dash(&i.backend),
            dash(&i.region),
            if i.jobs.is_empty() {
                "-".into()
            } else {
                i.jobs.join(", ")
            },
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    out
}
