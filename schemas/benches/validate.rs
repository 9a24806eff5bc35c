//! Files validated per second on the corpus (`tests/corpus`): parse, type
//! dispatch, conversion and every check, as `dstack validate` does per file.
//!
//! Run: `cargo bench -p dstack-schemas --bench validate`

use std::time::Instant;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus");
    let read = |dirs: &[&str], hostile: bool| {
        let mut files = Vec::new();
        for dir in dirs {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
                .expect("corpus dir")
                .flatten()
                .map(|e| e.path())
                .collect();
            paths.sort();
            for p in paths {
                let is_bomb = p.display().to_string().contains("billion-laughs");
                if is_bomb == hostile {
                    files.push((p.display().to_string(), std::fs::read(&p).expect("read")));
                }
            }
        }
        files
    };
    measure(
        "whole corpus but alias bombs",
        &read(
            &["accepted-by-dstack", "rejected-by-dstack", "bad", "legacy"],
            false,
        ),
    );
    measure("alias bombs (billion laughs)", &read(&["bad"], true));
}

fn measure(label: &str, files: &[(String, Vec<u8>)]) {
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    // Warm up, then time whole passes over the corpus.
    for (name, b) in files {
        std::hint::black_box(dstack_schemas::config::load_config(name, b));
    }
    let mut rates = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut passes = 0;
        while start.elapsed().as_secs_f64() < 1.0 {
            for (name, b) in files {
                std::hint::black_box(dstack_schemas::config::load_config(name, b));
            }
            passes += 1;
        }
        rates.push((passes * files.len()) as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "{label}: {} files, {} KiB: median {:.0} files/s (min {:.0}, max {:.0}), {:.1} MiB/s",
        files.len(),
        bytes / 1024,
        median,
        rates[0],
        rates[rates.len() - 1],
        median * bytes as f64 / files.len() as f64 / (1024.0 * 1024.0)
    );
}
