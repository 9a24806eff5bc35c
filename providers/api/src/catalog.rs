//! The offline catalog shipped with dstack-rs (`providers/catalog/catalog.json`).

use dstack_schemas::offer::Catalog;

/// The catalog JSON, embedded at build time.
pub const CATALOG_JSON: &str = include_str!("../../catalog/catalog.json");

/// The shipped catalog.
pub fn shipped() -> Catalog {
    // The file is checked by a test below; a broken one must not ship.
    Catalog::from_json(CATALOG_JSON)
        .unwrap_or_else(|e| panic!("invariant: shipped catalog parses ({e})"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_catalog_parses_and_has_gpu_offers() {
        let catalog = super::shipped();
        let offers = catalog.offers("aws");
        assert!(offers.len() > 50);
        assert!(offers.iter().any(|o| {
            o.gpu
                .as_ref()
                .is_some_and(|g| g.name == "H100" && g.count == 8)
        }));
        assert!(offers.iter().any(|o| o.spot));
        assert!(catalog.backend_prices("aws").is_some());
    }
}
