//! Fuzz the whole configuration reader: any bytes must give a document or
//! located diagnostics, never a panic, a hang or runaway memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loaded = dstack_schemas::config::load_config("fuzz.dstack.yml", data);
    for diag in &loaded.diagnostics {
        if let Some(label) = &diag.label {
            // Every label points inside (or at the end of) the text.
            assert!(label.span.end() <= loaded.file.text().len());
        }
    }
});
