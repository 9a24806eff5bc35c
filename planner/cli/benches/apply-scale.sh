#!/usr/bin/env bash
# Benchmark: `dstack apply -y` of F fleets of 9 instances (10 resources each,
# so F = 1000 is 10,000 steps) against the fake cloud with zero latency, at
# --parallelism 50, then a no-op re-plan and `dstack destroy -y`: the whole
# process each time (issue 14: our own overhead per step).
#
#   planner/cli/benches/apply-scale.sh [memory|state_file] [F...]   (default: memory 100 1000)
#
# `memory`: the fake cloud lives in the process; `state_file`: in
# .dstack/fake-cloud.json (what the crash tests and multi-process tests use).
# Uses $DSTACK_BIN (default target/release/dstack, built with
# `cargo build --release -p dstack`). Prints per F: steps, the first plan's
# wall seconds, apply wall seconds and ms per step (the apply less its plan:
# our overhead per step), apply peak RSS, re-plan and destroy wall seconds, and the
# number of fsync/fdatasync calls of the apply when strace is installed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
mode=${1:-memory}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)
dstack=${DSTACK_BIN:-$PWD/target/release/dstack}
[ -x "$dstack" ] || cargo build --release -p dstack --quiet
export NO_COLOR=1

printf '%7s %7s %8s %9s %8s %7s %9s %9s %7s\n' fleets steps plan_s apply_s ms_step rss_mb replan_s destroy_s fsyncs
for f in "${sizes[@]}"; do
    project=$(mktemp -d)
    mkdir -p "$project/.dstack"
    {
        printf 'backends:\n  - type: fake\n    name: aws\n'
        [ "$mode" = state_file ] && printf '    state_file: fake-cloud.json\n'
        printf 'local:\n  runtime: fake\n'
    } >"$project/.dstack/backends.yml"
    for i in $(seq 1 "$f"); do
        printf 'type: fleet\nname: f%s\nnodes: 9\n' "$i" >"$project/f$i.dstack.yml"
    done
    run() { /usr/bin/time -f '%e %M' -o "$project/time" "$dstack" --project-dir "$project" "$@" >"$project/out" 2>&1; }
    fsyncs=-
    if command -v strace >/dev/null; then
        strace -f -c -e trace=fsync,fdatasync -o "$project/strace" \
            /usr/bin/time -f '%e %M' -o "$project/time" "$dstack" --project-dir "$project" apply -y --parallelism 50 >"$project/out" 2>&1
        fsyncs=$(awk '/fsync|fdatasync/ {n += $4} END {print n + 0}' "$project/strace")
        # strace slows the process: time the apply again without it.
        run destroy -y
        rm -f "$project/.dstack/fake-cloud."*
    fi
    run plan
    read -r plan_s _ <"$project/time"
    run apply -y --parallelism 50
    read -r apply_s apply_kb <"$project/time"
    grep -q 'Apply complete' "$project/out" || { cat "$project/out" | tail -5; exit 1; }
    run plan
    read -r replan_s _ <"$project/time"
    grep -q 'No changes' "$project/out" || { echo "re-plan is not a no-op" >&2; tail -5 "$project/out"; exit 1; }
    run destroy -y
    read -r destroy_s _ <"$project/time"
    steps=$((f * 10))
    printf '%7s %7s %8s %9s %8s %7s %9s %9s %7s\n' "$f" "$steps" "$plan_s" "$apply_s" \
        "$(echo "scale=3; ($apply_s - $plan_s) * 1000 / $steps" | bc)" "$((apply_kb / 1024))" \
        "$replan_s" "$destroy_s" "$fsyncs"
    rm -rf "$project"
done
