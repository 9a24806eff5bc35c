//! What can be bought and what already exists outside state: the offers of
//! the configured backends (plus this machine), non-machine prices, and the
//! result of one listing sweep per provider (for orphans, drift and crash
//! recovery). Gathered by the CLI (IO); used here as plain data.

use std::collections::{BTreeMap, BTreeSet};

use dstack_provider::ResourceInfo;
use dstack_schemas::offer::{BackendPrices, Offer};

/// Offers and prices for planning.
#[derive(Debug, Clone, Default)]
pub struct Market {
    /// Offers of the configured cloud backends.
    pub offers: Vec<Offer>,
    /// This machine, as the one instance of the built-in `local` fleet.
    pub local: Option<Offer>,
    /// Non-machine prices per backend.
    pub prices: BTreeMap<String, BackendPrices>,
    /// Catalog version the prices come from.
    pub catalog_version: String,
    /// Backends that failed to give offers, with why (shown as warnings).
    pub failures: Vec<(String, String)>,
    /// Backends configured (offers or not).
    pub backends: BTreeSet<String>,
}

/// What the providers say exists, from one sweep each.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Live resources tagged as dstack's, by provider.
    pub resources: Vec<(String, ResourceInfo)>,
    /// Providers swept successfully.
    pub swept: BTreeSet<String>,
    /// Providers that failed to answer, with why.
    pub failures: Vec<(String, String)>,
}

impl Observed {
    /// The live resource with this provider id, if the provider was swept.
    pub fn find(&self, provider: &str, provider_id: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|(p, r)| p == provider && r.provider_id == provider_id)
            .map(|(_, r)| r)
    }

    /// The live resource created under this idempotency token.
    pub fn find_token(&self, token: &str) -> Option<(&str, &ResourceInfo)> {
        self.resources
            .iter()
            .find(|(_, r)| r.token() == Some(token))
            .map(|(p, r)| (p.as_str(), r))
    }
}
