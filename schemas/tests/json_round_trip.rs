//! Every configuration survives JSON (how specs are stored in state and in
//! saved plans): serialise, read back with the YAML rules, same value.

use dstack_schemas::config::{Configuration, load_config};

#[test]
fn every_accepted_corpus_file_round_trips_through_json() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/accepted-by-dstack");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("corpus").flatten() {
        let path = entry.path();
        let bytes = std::fs::read(&path).expect("read");
        let loaded = load_config(&path.display().to_string(), &bytes);
        let Some(config) = loaded.config() else {
            continue;
        };
        if matches!(config, Configuration::Preset(_)) {
            continue; // presets are validated, not stored
        }
        let json = serde_json::to_value(config).expect("serialise");
        let back: Configuration = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{}: {e}\n{json:#}", path.display()));
        assert_eq!(
            &back,
            config,
            "{}: changed through JSON\n{json:#}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 100);
}
