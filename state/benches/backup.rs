//! What the backup at the start of every apply and destroy costs: a state
//! file of N resources and M stored log lines copied with `VACUUM INTO`
//! (median of 5 copies), next to the file's size.
//!
//! `cargo bench -p dstack-state --bench backup`

use std::time::Instant;

use dstack_state::sqlite::{SqliteStore, random_id};
use dstack_state::{Expected, LogLine, LogStore, RecordedResource, ResourceStore};

fn state_with(dir: &std::path::Path, resources: usize, lines: usize) -> SqliteStore {
    let store = SqliteStore::open(&dir.join("state.db")).expect("state");
    for i in 0..resources {
        let address = format!("fleet/f{}/instance/{}", i / 100, i % 100);
        let mut row = RecordedResource::new(
            address.parse().expect("address"),
            serde_json::json!({"fleet": format!("f{}", i / 100), "index": i % 100}),
            format!("sha256:{i:064x}"),
        );
        row.provider = Some("aws".into());
        row.provider_id = Some(format!("i-{i:08x}"));
        row.data = serde_json::json!({"ip": "10.0.0.1", "zone": "us-east-1a"});
        store.put(&row, Expected::Absent).expect("put");
    }
    for batch in 0..lines.div_ceil(10_000) {
        let page: Vec<LogLine> = (0..10_000.min(lines - batch * 10_000))
            .map(|i| LogLine {
                job: "run/train/job/0".into(),
                submission: "j-1".into(),
                offset: ((batch * 10_000 + i) * 80) as u64,
                timestamp: 1,
                stream: "stdout".into(),
                text: format!(
                    "step {} loss 0.{:06} lr 3e-4 tokens/s 51234",
                    batch * 10_000 + i,
                    i
                ),
            })
            .collect();
        store.append_logs(&page).expect("logs");
    }
    store
}

fn main() {
    println!("| resources | log lines | state file | backup (median of 5) |");
    println!("|---:|---:|---:|---:|");
    for (resources, lines) in [(100, 0), (10_000, 0), (1_000, 100_000), (1_000, 1_000_000)] {
        let dir = std::env::temp_dir().join(format!("dstack-bench-backup-{}", random_id(6)));
        let store = state_with(&dir, resources, lines);
        let size = std::fs::metadata(dir.join("state.db")).map_or(0, |m| m.len());
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                store
                    .backup_to(&dir.join("state.db.backup"))
                    .expect("backup");
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "| {resources} | {lines} | {:.1} MB | {:.1} ms |",
            size as f64 / 1e6,
            times[2]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
