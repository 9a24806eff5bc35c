//! The tables of `dstack offer`: one row per offer (CPU, memory and disk in
//! GB, GPU, spot or on-demand, price), or with `--group-by gpu|backend|region`
//! one row per group (offers, spot, price range, where).

use std::collections::BTreeSet;

use clap::ValueEnum;
use dstack_schemas::grammar::Memory;
use dstack_schemas::money::Usd;
use dstack_schemas::offer::Offer;

/// What `--group-by` groups offers by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// GPU model, memory and count.
    Gpu,
    /// Backend.
    Backend,
    /// Backend and region.
    Region,
}

/// `24GB`, `0.5GB`.
pub fn gb(memory: Memory) -> String {
    if memory.mb().is_multiple_of(1024) {
        format!("{}GB", memory.mb() / 1024)
    } else {
        format!("{:.1}GB", memory.gb())
    }
}

fn gpu_text(o: &Offer) -> String {
    o.gpu.as_ref().map_or("-".into(), |g| {
        format!("{}:{}:{}", g.name, gb(g.memory), g.count)
    })
}

/// The disk: fixed by the offer, or chosen at creation (`disk` is what
/// the resources ask for then).
fn disk_text(o: &Offer, wanted: Option<Memory>) -> String {
    match (o.disk, wanted) {
        (Some(d), _) => gb(d),
        (None, Some(w)) => gb(w),
        (None, None) => "any".into(),
    }
}

fn spot_text(spot: bool) -> &'static str {
    if spot { "spot" } else { "on-demand" }
}

/// One row per offer.
pub fn offer_rows(offers: &[&Offer], disk: Option<Memory>) -> String {
    let mut out = format!(
        " {:>3}  {:<10} {:<12} {:<16} {:>4} {:>8} {:>8} {:<18} {:<9} {:>9}\n",
        "#", "BACKEND", "REGION", "INSTANCE", "CPU", "MEMORY", "DISK", "GPU", "SPOT", "PRICE"
    );
    for (i, o) in offers.iter().enumerate() {
        out.push_str(&format!(
            " {:>3}  {:<10} {:<12} {:<16} {:>4} {:>8} {:>8} {:<18} {:<9} {:>9}\n",
            i + 1,
            o.backend,
            o.region,
            o.instance_type,
            o.cpus,
            gb(o.memory),
            disk_text(o, disk),
            gpu_text(o),
            spot_text(o.spot),
            o.price.0.short()
        ));
    }
    out
}

/// Offers sharing a key, cheapest first.
struct Group<'a> {
    key: String,
    offers: Vec<&'a Offer>,
}

fn key(o: &Offer, by: GroupBy) -> String {
    match by {
        GroupBy::Gpu => gpu_text(o),
        GroupBy::Backend => o.backend.clone(),
        GroupBy::Region => format!("{} {}", o.backend, o.region),
    }
}

fn groups<'a>(offers: &[&'a Offer], by: GroupBy) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for o in offers {
        let k = key(o, by);
        match out.iter_mut().find(|g| g.key == k) {
            Some(g) => g.offers.push(o),
            None => out.push(Group {
                key: k,
                offers: vec![o],
            }),
        }
    }
    out
}

fn joined(values: impl Iterator<Item = String>) -> String {
    values
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

/// One row per group (at most `max` groups), in order of their cheapest
/// offer; the number of groups.
pub fn group_rows(offers: &[&Offer], by: GroupBy, max: usize) -> (String, usize) {
    let all = groups(offers, by);
    let title = match by {
        GroupBy::Gpu => "GPU",
        GroupBy::Backend => "BACKEND",
        GroupBy::Region => "REGION",
    };
    let mut out = format!(
        " {:<22} {:>6} {:<18} {:<24} {:<14} {:>19}\n",
        title, "OFFERS", "SPOT", "BACKENDS", "REGIONS", "PRICE"
    );
    for g in all.iter().take(max) {
        let cheapest = g
            .offers
            .iter()
            .map(|o| o.price.0)
            .min()
            .unwrap_or(Usd::ZERO);
        let dearest = g
            .offers
            .iter()
            .map(|o| o.price.0)
            .max()
            .unwrap_or(Usd::ZERO);
        let price = if cheapest == dearest {
            cheapest.short()
        } else {
            format!("{}..{}", cheapest.short(), dearest.short())
        };
        out.push_str(&format!(
            " {:<22} {:>6} {:<18} {:<24} {:<14} {:>19}\n",
            g.key,
            g.offers.len(),
            joined(g.offers.iter().map(|o| spot_text(o.spot).to_string())),
            joined(g.offers.iter().map(|o| o.backend.clone())),
            joined(g.offers.iter().map(|o| o.region.clone())),
            price
        ));
    }
    (out, all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_shown_in_gb() {
        assert_eq!(gb(Memory::from_gb(24)), "24GB");
        assert_eq!(gb(Memory::from_gb_f64(0.5).unwrap()), "0.5GB");
    }
}
