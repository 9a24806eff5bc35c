//! Plan time at 10, 1k, 10k and 100k resources (first plan, and the no-op
//! re-plan against recorded state), and apply of 1k resources against the
//! fake cloud with 100 ms per call.
//!
//! Run: `cargo bench -p dstack-planner --bench plan` (add `-- --quick` to
//! skip the 100k size and the apply benchmark).

use std::time::{Duration, Instant};

use dstack_engine::testing::{TestProject, configs};
use dstack_planner::plan::PlanOptions;

/// `fleets` fleets of `per_fleet` instances: `fleets * (per_fleet + 1)` resources.
fn project_files(fleets: usize, per_fleet: usize) -> Vec<(String, String)> {
    (0..fleets)
        .map(|i| {
            let gpu = ["A10G", "L4", "T4", "24GB.."][i % 4];
            (
                format!("f{i}.dstack.yml"),
                format!("type: fleet\nname: fleet-{i}\nnodes: {per_fleet}\nresources:\n  gpu: {gpu}\nspot_policy: auto\n"),
            )
        })
        .collect()
}

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn offers() -> Vec<dstack_schemas::offer::Offer> {
    dstack_provider::catalog::shipped().offers("aws")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bench_plan(resources: usize, runtime: &tokio::runtime::Runtime) {
    let per_fleet = if resources <= 10 { 4 } else { 9 };
    let fleets = resources / (per_fleet + 1);
    let files = project_files(fleets, per_fleet);
    let load_start = Instant::now();
    let configs = configs(&files);
    let load = load_start.elapsed();
    let project = TestProject::new(offers(), Duration::ZERO);
    let options = PlanOptions::default();
    let runs = if resources >= 100_000 { 1 } else { 3 };
    let mut first = Vec::new();
    let mut plan = None;
    for _ in 0..runs {
        let start = Instant::now();
        plan = Some(project.plan(&configs, &options));
        first.push(start.elapsed());
    }
    let plan = plan.expect("planned");
    assert!(!plan.errored, "benchmark plan has errors");
    let rss_after_plan = peak_rss_mb();
    let total = plan.resource_changes.len();
    let report = runtime.block_on(project.apply(&plan, &configs));
    assert_eq!(
        report.outcome,
        dstack_engine::apply::ApplyOutcome::Succeeded
    );
    let mut again = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let noop = project.plan(&configs, &options);
        again.push(start.elapsed());
        assert!(!noop.has_changes, "re-plan is not a no-op");
    }
    println!(
        "| {total:>7} | {:>9.1} ms | {:>12.1} ms | {:>13.1} ms | {:>6} MB | {:>6} MB |",
        load.as_secs_f64() * 1e3,
        median(first).as_secs_f64() * 1e3,
        median(again).as_secs_f64() * 1e3,
        rss_after_plan,
        peak_rss_mb()
    );
}

fn bench_apply(parallelism: usize, runtime: &tokio::runtime::Runtime) {
    let files = project_files(100, 9);
    let configs = configs(&files);
    let mut project = TestProject::new(offers(), Duration::from_millis(100));
    project.parallelism = parallelism;
    let plan = project.plan(&configs, &PlanOptions::default());
    let calls = plan
        .resource_changes
        .iter()
        .filter(|c| c.address.parent().is_some())
        .count();
    let start = Instant::now();
    let report = runtime.block_on(project.apply(&plan, &configs));
    let took = start.elapsed();
    assert_eq!(
        report.outcome,
        dstack_engine::apply::ApplyOutcome::Succeeded
    );
    let ideal = Duration::from_millis(100) * calls as u32 / parallelism as u32;
    println!(
        "| {:>5} | {parallelism:>11} | {calls:>14} | {:>8.2} s | {:>14.2} s | {:>9.1}% |",
        plan.resource_changes.len(),
        took.as_secs_f64(),
        ideal.as_secs_f64(),
        100.0 * ideal.as_secs_f64() / took.as_secs_f64()
    );
}

fn main() {
    if let Some(arg) = std::env::args().find(|a| a.starts_with("--probe=")) {
        let fleets: usize = arg.trim_start_matches("--probe=").parse().unwrap_or(10);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let files = project_files(fleets, 9);
        let configs = configs(&files);
        let project = TestProject::new(offers(), Duration::from_millis(100));
        let plan = project.plan(&configs, &PlanOptions::default());
        let start = Instant::now();
        let report = runtime.block_on(project.apply(&plan, &configs));
        let creates: Vec<f64> = report
            .steps
            .iter()
            .filter(|s| s.address.parent().is_some())
            .map(|s| s.secs)
            .collect();
        let mean = creates.iter().sum::<f64>() / creates.len().max(1) as f64;
        println!(
            "{} steps in {:?} ({}); mean instance step {:.3}s",
            report.steps.len(),
            start.elapsed(),
            report.outcome.as_str(),
            mean
        );
        return;
    }
    if let Some(arg) = std::env::args().find(|a| a.starts_with("--size=")) {
        let n: usize = arg.trim_start_matches("--size=").parse().unwrap_or(1000);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        bench_plan(n, &runtime);
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("Plan (fleets of 9 instances; release build; median of 3, 1 run at 100k):\n");
    println!(
        "| resources | load configs | first plan | no-op re-plan | peak RSS after planning | peak RSS after apply + re-plan |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let sizes: &[usize] = if quick {
        &[10, 1_000, 10_000]
    } else {
        &[10, 1_000, 10_000, 100_000]
    };
    for &n in sizes {
        bench_plan(n, &runtime);
    }
    if quick {
        return;
    }
    println!(
        "\nApply of 1,000 resources (900 instance creates) against the fake cloud at 100 ms per call:\n"
    );
    println!(
        "| resources | parallelism | provider calls | wall time | ideal (calls x 100ms / parallelism) | efficiency |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for parallelism in [10, 50] {
        bench_apply(parallelism, &runtime);
    }
}
