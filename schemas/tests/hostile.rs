//! Hostile input never panics: random bytes, mutated real configurations,
//! and pathological shapes all end in a document or located diagnostics.

use dstack_schemas::config::load_config;
use proptest::prelude::*;

fn check(bytes: &[u8]) {
    let loaded = load_config("h.dstack.yml", bytes);
    for diag in &loaded.diagnostics {
        if let Some(label) = &diag.label {
            assert!(
                label.span.end() <= loaded.file.text().len(),
                "label past the end: {diag:?}"
            );
        }
    }
    assert!(
        loaded.document.is_some() || loaded.has_errors(),
        "no document and no error"
    );
}

fn corpus_files() -> Vec<Vec<u8>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/accepted-by-dstack");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

const SPECIAL: &[u8] = b":-[]{}&*!|>'\"%@`#,?\t\n \\0..~";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        check(&bytes);
    }

    #[test]
    fn random_yamlish_text(text in "[a-z:\\- \\[\\]{}&*!|>'\"\n\t0-9.]{0,400}") {
        check(text.as_bytes());
    }

    #[test]
    fn mutated_configs(file_idx in 0usize..1000, edits in proptest::collection::vec((any::<usize>(), 0usize..SPECIAL.len(), 0u8..3), 1..8)) {
        let files = corpus_files();
        prop_assume!(!files.is_empty());
        let mut bytes = files[file_idx % files.len()].clone();
        for (pos, ch, op) in edits {
            let at = if bytes.is_empty() { 0 } else { pos % bytes.len() };
            match op {
                0 => bytes.insert(at, SPECIAL[ch]),
                1 if !bytes.is_empty() => { bytes.remove(at); }
                _ if !bytes.is_empty() => bytes[at] = SPECIAL[ch],
                _ => {}
            }
        }
        check(&bytes);
    }
}

#[test]
fn pathological_shapes() {
    check(&vec![b'a'; 2 * 1024 * 1024]);
    check(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes());
    check(format!("{}x", "- ".repeat(5000)).as_bytes());
    check(format!("type: task\ncommands: [{}]\n", "\"x\",".repeat(50_000)).as_bytes());
    check(format!("type: task\nname: {}\n", "a".repeat(100_000)).as_bytes());
    check(b"\xef\xbb\xbftype: task\ncommands: [x]\n");
    check(b"type: task\ncommands: [x]\n...\n---\ntype: task\n");
    check(b"&a [*a]");
    check(b"a: &a\n  b: *a\n");
    check(b"? [a, b]\n: c\n");
}
