#!/usr/bin/env bash
# Benchmark: `dstack ps`, `dstack ps -a` and `dstack logs RUN` with N runs
# recorded in state (issue 14). One host-process task is applied for real
# (so its run, job and log rows are what dstack writes); its rows are then
# copied N-1 times with sqlite3 (run/rK, run/rK/job/0 and the job's log),
# which is the state after N finished runs without running N jobs.
#
#   planner/cli/benches/runs-scale.sh [N...]   (default: 10000)
#
# Uses $DSTACK_BIN (default target/release/dstack, built with
# `cargo build --release -p dstack`), sqlite3 and hyperfine (apt). Prints
# hyperfine's table per N (whole process, warm cache, runner running).
set -euo pipefail
cd "$(dirname "$0")/../../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000)
dstack=${DSTACK_BIN:-$PWD/target/release/dstack}
[ -x "$dstack" ] || cargo build --release -p dstack --quiet
export NO_COLOR=1

for n in "${sizes[@]}"; do
    project=$(mktemp -d)
    cd "$project"
    printf 'type: task\nname: seed\ncommands:\n  - echo seeded\n' > seed.dstack.yml
    "$dstack" apply -y -f seed.dstack.yml > /dev/null 2>&1
    sqlite3 .dstack/state.db <<SQL
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n - 1)
INSERT INTO resources
SELECT replace(address, 'run/seed', 'run/r' || i), kind, spec, fingerprint,
       provider, provider_id, status, price_micros, offer, data,
       created_at + i, updated_at + i, version
FROM resources, k WHERE address IN ('run/seed', 'run/seed/job/0');
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n - 1)
INSERT INTO log_submissions
SELECT 'run/r' || i || '/job/0', id, seq, instance, sealed, recorded_at
FROM log_submissions, k WHERE job = 'run/seed/job/0';
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n - 1)
INSERT INTO logs
SELECT 'run/r' || i || '/job/0', submission, offset, timestamp, stream, text
FROM logs, k WHERE job = 'run/seed/job/0';
SQL
    runs=$("$dstack" ps -a --json | grep -o '"name"' | wc -l)
    echo "## $n runs recorded (ps -a lists $runs)"
    hyperfine -N --warmup 2 --runs 10 \
        "$dstack ps" "$dstack ps -a" "$dstack logs r$((n / 2))"
    if [ -f .dstack/runner/runner.json ]; then
        pid=$(grep -o '"pid": *[0-9]*' .dstack/runner/runner.json | grep -o '[0-9]*$')
        kill "$pid" 2> /dev/null || true
    fi
    cd - > /dev/null
    rm -rf "$project"
done
