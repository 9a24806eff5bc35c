#!/usr/bin/env bash
# Benchmark: `dstack plan` of N resources (fleets of 9 instances, 10
# resources a fleet) against the fake cloud living in the process and SQLite
# state: the first plan against empty state, `apply -y`, then a no-op re-plan
# (which must say "No changes"). The whole process each time (issue 14).
#
#   planner/cli/benches/plan-scale.sh [N...]   (default: 10000 100000)
#
# Uses $DSTACK_BIN (default target/release/dstack, built with
# `cargo build --release -p dstack`). Prints per N the wall seconds and peak
# RSS (/usr/bin/time -v's "Maximum resident set size") of the first plan and
# of the no-op re-plan; RUNS (default 3) re-plans, the median and fastest shown.
# KEEP=1 keeps the project directories (to profile a re-plan by hand).
set -euo pipefail
cd "$(dirname "$0")/../../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
dstack=${DSTACK_BIN:-$PWD/target/release/dstack}
[ -x "$dstack" ] || cargo build --release -p dstack --quiet
runs=${RUNS:-3}
export NO_COLOR=1

printf '%8s %7s %9s %8s %11s %10s %9s\n' resources fleets first_s first_mb replan_med_s replan_min_s replan_mb
for n in "${sizes[@]}"; do
    f=$((n / 10))
    project=$(mktemp -d)
    mkdir -p "$project/.dstack"
    printf 'backends:\n  - type: fake\n    name: aws\nlocal:\n  runtime: fake\n' >"$project/.dstack/backends.yml"
    for i in $(seq 1 "$f"); do
        printf 'type: fleet\nname: f%s\nnodes: 9\n' "$i" >"$project/f$i.dstack.yml"
    done
    run() {
        /usr/bin/time -v -o "$project/time" "$dstack" --project-dir "$project" "$@" >"$project/out" 2>&1
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$project/time")
        mb=$(awk -F': ' '/Maximum resident set size/ {print int($2 / 1024)}' "$project/time")
    }
    run plan
    first_s=$wall first_mb=$mb
    run apply -y --parallelism 50
    grep -q 'Apply complete' "$project/out" || { tail -5 "$project/out"; exit 1; }
    times=()
    replan_mb=0
    for _ in $(seq 1 "$runs"); do
        run plan
        grep -q 'No changes' "$project/out" || { echo "re-plan is not a no-op" >&2; tail -5 "$project/out"; exit 1; }
        times+=("$wall")
        [ "$mb" -gt "$replan_mb" ] && replan_mb=$mb
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    med=$(echo "$sorted" | sed -n "$(((runs + 1) / 2))p")
    min=$(echo "$sorted" | head -1)
    printf '%8s %7s %9s %8s %11s %10s %9s\n' "$n" "$f" "$first_s" "$first_mb" "$med" "$min" "$replan_mb"
    if [ -n "${KEEP:-}" ]; then echo "kept $project"; else rm -rf "$project"; fi
done
