//! The checked-in `schemas/json/*.schema.json` are what the model generates.
//! `UPDATE_SCHEMAS=1 cargo test` rewrites them.

use dstack_schemas::config::schema::{SCHEMA_NAMES, schema_for};
use dstack_schemas::inspect::{INSPECT_SCHEMA_NAMES, inspect_schema_for};

use crate::harness::root;

#[test]
fn checked_in_schemas_are_fresh() {
    let dir = root().join("schemas/json");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for name in SCHEMA_NAMES.iter().chain(INSPECT_SCHEMA_NAMES) {
        let schema = schema_for(name)
            .or_else(|| inspect_schema_for(name))
            .expect("known schema");
        let text = serde_json::to_string_pretty(&schema).expect("json") + "\n";
        let path = dir.join(format!("{name}.schema.json"));
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(&path, &text).expect("write schema");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas (run `UPDATE_SCHEMAS=1 cargo test -p dstack --test it schemas`): {stale:?}"
    );
}

/// The GPU names the configuration language knows (vendor inference, and
/// the error for `amd:H100`) agree with every GPU of the shipped catalog.
#[test]
fn shipped_catalog_gpus_have_their_vendor_in_the_language() {
    let catalog = dstack_provider::catalog::shipped();
    let mut checked = 0;
    for gpu in catalog.items.iter().filter_map(|item| item.gpu.as_ref()) {
        assert_eq!(
            dstack_schemas::grammar::vendor_of(&gpu.name),
            Some(gpu.vendor),
            "{} in providers/catalog/catalog.json",
            gpu.name
        );
        checked += 1;
    }
    assert!(checked > 5, "catalog GPUs checked: {checked}");
}
