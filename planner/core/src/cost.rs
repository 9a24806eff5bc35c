//! Offers ranked against requirements — the one ordering used by both
//! `dstack offer` and `dstack plan` — and the prices of things that are not
//! machines (volumes, gateways).

use std::collections::BTreeMap;

use dstack_schemas::grammar::Memory;
use dstack_schemas::money::{HourlyRate, Usd};
use dstack_schemas::offer::{Availability, HOURS_PER_MONTH, Offer};

use crate::requirements::Requirements;

/// The offers that match, best first, and why the others did not.
#[derive(Debug, Clone, Default)]
pub struct Ranking {
    /// Matching offers, cheapest available first.
    pub matched: Vec<Offer>,
    /// How many offers failed each requirement (`gpu`, `max_price`, ...).
    pub rejected: BTreeMap<&'static str, usize>,
    /// Offers looked at.
    pub considered: usize,
}

impl Ranking {
    /// The best offer.
    pub fn best(&self) -> Option<&Offer> {
        self.matched.first()
    }

    /// The dearest matching offer (the most failover could cost).
    pub fn dearest(&self) -> Option<&Offer> {
        self.matched.iter().max_by_key(|o| o.price)
    }

    /// "12 offers: 9 lack the GPU, 3 above max_price".
    pub fn explain_rejections(&self) -> String {
        let parts: Vec<String> = self
            .rejected
            .iter()
            .map(|(field, n)| format!("{n} fail `{field}`"))
            .collect();
        format!(
            "{} offer(s) considered: {}",
            self.considered,
            parts.join(", ")
        )
    }
}

fn availability_rank(a: Availability) -> u8 {
    match a {
        Availability::Idle => 0,
        Availability::Available => 1,
        Availability::Busy => 2,
        Availability::NoQuota => 3,
        Availability::NotAvailable => 4,
    }
}

/// The ordering of offers: available before unavailable, then cheaper, then
/// by backend, region and instance type so ties are deterministic.
pub fn offer_order(a: &Offer, b: &Offer) -> std::cmp::Ordering {
    (
        availability_rank(a.availability),
        a.price,
        &a.backend,
        &a.region,
        &a.instance_type,
        a.spot,
    )
        .cmp(&(
            availability_rank(b.availability),
            b.price,
            &b.backend,
            &b.region,
            &b.instance_type,
            b.spot,
        ))
}

/// Filters `offers` by `requirements` and sorts them (see [`offer_order`]).
pub fn rank(requirements: &Requirements, offers: &[Offer]) -> Ranking {
    rank_all(&[requirements], offers)
}

/// Offers meeting every one of `requirements` (a job's and its fleet's),
/// sorted like [`rank`].
pub fn rank_all(requirements: &[&Requirements], offers: &[Offer]) -> Ranking {
    let mut ranking = Ranking {
        considered: offers.len(),
        ..Ranking::default()
    };
    for offer in offers {
        match requirements
            .iter()
            .map(|r| r.check(offer))
            .find(Result::is_err)
        {
            None => ranking.matched.push(offer.clone()),
            Some(Err(why)) => *ranking.rejected.entry(why.field).or_default() += 1,
            Some(Ok(())) => {}
        }
    }
    ranking.matched.sort_by(offer_order);
    ranking
}

/// What a volume of `size` costs per hour at `per_gb_month` dollars.
pub fn volume_rate(size: Memory, per_gb_month: f64) -> HourlyRate {
    let dollars = size.gb() * per_gb_month / HOURS_PER_MONTH;
    HourlyRate(Usd::from_dollars_f64(dollars).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::grammar::{CpuArch, Range};
    use dstack_schemas::offer::OfferGpu;

    fn offer(name: &str, price: f64, availability: Availability) -> Offer {
        Offer {
            backend: "aws".into(),
            region: "us-east-1".into(),
            availability_zone: None,
            instance_type: name.into(),
            cpus: 4,
            cpu_arch: CpuArch::X86,
            memory: Memory::from_gb(16),
            disk: None,
            gpu: Some(OfferGpu {
                vendor: dstack_schemas::grammar::GpuVendor::Nvidia,
                name: "A10G".into(),
                memory: Memory::from_gb(24),
                count: 1,
            }),
            spot: false,
            price: HourlyRate(Usd::from_dollars_f64(price).unwrap_or_default()),
            availability,
        }
    }

    #[test]
    fn cheapest_available_first_deterministically() {
        let req = Requirements {
            cpu: "1..".parse().unwrap(),
            memory: Range::at_least(Memory::from_gb(1)),
            gpu: "A10G".parse().unwrap(),
            disk: None,
            spot: Some(false),
            max_price: None,
            backends: None,
            regions: None,
            instance_types: None,
        };
        let offers = vec![
            offer("c", 1.0, Availability::Available),
            offer("a", 0.5, Availability::NoQuota),
            offer("b", 1.0, Availability::Available),
            offer("d", 2.0, Availability::Available),
        ];
        let ranked: Vec<String> = rank(&req, &offers)
            .matched
            .into_iter()
            .map(|o| o.instance_type)
            .collect();
        assert_eq!(ranked, ["b", "c", "d", "a"]);
    }

    #[test]
    fn volume_prices() {
        let rate = volume_rate(Memory::from_gb(730), 0.08);
        assert_eq!(rate.0, Usd::from_dollars_f64(0.08).unwrap_or_default());
    }
}
