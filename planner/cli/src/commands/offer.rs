//! `dstack offer`: what matches, cheapest first — ranked by the same
//! function `plan` uses.

use dstack_planner::cost::rank;
use dstack_planner::requirements::Requirements;
use dstack_schemas::grammar::{CpuSpec, DiskSpec, GpuSpec, Memory, Range};
use dstack_schemas::money::Usd;

use super::offer_table::{group_rows, offer_rows};
use crate::cli::OfferArgs;
use crate::context::{Project, ProjectOptions, gather_market};
use crate::error::CliError;

fn parse<T: std::str::FromStr<Err = dstack_schemas::grammar::GrammarError>>(
    flag: &str,
    text: &str,
) -> Result<T, CliError> {
    text.parse()
        .map_err(|e: dstack_schemas::grammar::GrammarError| {
            CliError::Usage(format!(
                "--{flag} {text}: {}{}",
                e.message,
                e.help.map_or(String::new(), |h| format!(" ({h})"))
            ))
        })
}

fn requirements(args: &OfferArgs) -> Result<Requirements, CliError> {
    Ok(Requirements {
        cpu: args
            .cpu
            .as_deref()
            .map(|t| parse::<CpuSpec>("cpu", t))
            .transpose()?
            .unwrap_or(CpuSpec {
                arch: None,
                count: Range::at_least(1),
            }),
        memory: match &args.memory {
            Some(t) => Range::parse_with(t, |x| x.parse::<Memory>())
                .map_err(|e| CliError::Usage(format!("--memory {t}: {}", e.message)))?,
            None => Range::at_least(Memory::from_gb(0)),
        },
        gpu: args
            .gpu
            .as_deref()
            .map(|t| parse::<GpuSpec>("gpu", t))
            .transpose()?
            .unwrap_or_default(),
        disk: args
            .disk
            .as_deref()
            .map(|t| parse::<DiskSpec>("disk", t))
            .transpose()?
            .map(|d| d.size),
        spot: match spot_policy(args) {
            "spot" => Some(true),
            "on-demand" => Some(false),
            "auto" => None,
            other => {
                return Err(CliError::Usage(format!(
                    "--spot-policy {other}: use spot, on-demand or auto"
                )));
            }
        },
        max_price: args.max_price,
        backends: (!args.backends.is_empty()).then(|| args.backends.clone()),
        regions: (!args.regions.is_empty()).then(|| args.regions.clone()),
        instance_types: (!args.instance_types.is_empty()).then(|| args.instance_types.clone()),
    })
}

/// `--spot-policy`, or what `--spot`/`--on-demand`/`--spot-auto` say.
fn spot_policy(args: &OfferArgs) -> &str {
    args.spot
        .chosen()
        .map_or(args.spot_policy.as_str(), |(_, policy)| policy)
}

/// Lists matching offers.
pub fn run(options: &ProjectOptions, args: &OfferArgs) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    let requirements = requirements(args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let providers = project.providers()?;
    let market = runtime.block_on(gather_market(&project, &providers))?;
    let mut offers = market.offers.clone();
    offers.extend(market.local.clone());
    let ranking = rank(&requirements, &offers);
    if args.json || args.format.as_deref() == Some("json") {
        let out = serde_json::json!({
            "requirements": requirements.describe(),
            "catalog_version": market.catalog_version,
            "total": ranking.matched.len(),
            "offers": ranking.matched.iter().take(args.max_offers).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(anyhow::Error::from)?
        )?;
        return Ok(0);
    }
    outln!("Resources:    {}", requirements.describe())?;
    outln!("Spot policy:  {}", spot_policy(args))?;
    outln!(
        "Max price:    {}",
        requirements.max_price.map_or("off".into(), |p| p.short())
    )?;
    outln!("Catalog:      {}\n", market.catalog_version)?;
    for (backend, why) in &market.failures {
        errln!("warning: backend {backend} gave no offers: {why}");
    }
    if ranking.matched.is_empty() {
        outln!("No offer matches. {}", ranking.explain_rejections())?;
        return Ok(dstack_schemas::exit_codes::NO_OFFER);
    }
    let matched: Vec<&dstack_schemas::offer::Offer> = ranking.matched.iter().collect();
    if let Some(by) = args.group_by {
        let (table, groups) = group_rows(&matched, by, args.max_offers);
        out!("{table}")?;
        if groups > args.max_offers {
            outln!("  ...\n Shown {} of {groups} groups", args.max_offers)?;
        }
        return Ok(0);
    }
    let disk = requirements.disk.as_ref().and_then(|d| d.min);
    out!(
        "{}",
        offer_rows(&matched[..matched.len().min(args.max_offers)], disk)
    )?;
    if ranking.matched.len() > args.max_offers {
        let max = ranking.dearest().map_or(Usd::ZERO, |o| o.price.0);
        outln!(
            "  ...\n Shown {} of {} offers, {} max",
            args.max_offers,
            ranking.matched.len(),
            max.short()
        )?;
    }
    Ok(0)
}
