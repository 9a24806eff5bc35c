//! Numeric flags: a value that means nothing (no parallelism, a price that
//! is not a number, a count of zero) is a usage error naming the flag, never
//! silently something else.

use crate::harness::{dstack_in, scratch_dir};

const BAD: &[&[&str]] = &[
    &["apply", "-y", "--parallelism", "0"],
    &["apply", "-y", "--parallelism", "1001"],
    &["destroy", "-y", "--parallelism", "0"],
    &["apply", "-y", "--lock-timeout", "soon"],
    &["offer", "--max-price", "NaN"],
    &["offer", "--max-price", "inf"],
    &["offer", "--max-price", "-1"],
    &["offer", "--max-price", "1e12"],
    &["offer", "--max-price", "cheap"],
    &["offer", "--max-offers", "0"],
    &["ps", "-n", "0"],
    &["state", "history", "-n", "0"],
    &["logs", "x", "--job", "-1"],
    &["attach", "x", "--job", "one"],
    &["stop", "x", "--timeout", "0s"],
    &["stop", "x", "--timeout", "25h"],
];

#[test]
fn meaningless_numbers_in_flags_are_usage_errors() {
    let dir = scratch_dir("flags");
    let mut said = Vec::new();
    for args in BAD {
        let out = dstack_in(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").to_string();
        said.push(format!(
            "$ dstack {}\nexit {:?}: {first}",
            args.join(" "),
            out.status.code()
        ));
    }
    insta::assert_snapshot!("bad_numbers", said.join("\n"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sensible_numbers_in_flags_are_taken() {
    let dir = scratch_dir("flags-ok");
    for args in [
        &["offer", "--max-price", "0.5", "--max-offers", "3"][..],
        &["offer", "--max-price", "$0"][..],
        &["apply", "-y", "--parallelism", "1"][..],
        &["ps", "-n", "1"][..],
        &["state", "history", "-n", "1"][..],
    ] {
        let out = dstack_in(&dir, args);
        assert!(
            out.status.success(),
            "dstack {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
