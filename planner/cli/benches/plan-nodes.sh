#!/usr/bin/env bash
# Benchmark: `dstack plan` (the whole process: read configs, plan, render the
# text plan) of one task with `nodes: N` on a cluster fleet that grows by one
# instance per node, against the fake cloud with the shipped AWS catalog.
# Planning must be linear in N (issue 8.1): the row to watch is N = 10,000.
#
#   planner/cli/benches/plan-nodes.sh [RUNS] [N...]   (default 5 runs; 1000 10000 20000 50000)
#
# Builds and uses target/release/dstack (`cargo build --release -p dstack`;
# the AWS backend is not needed). Prints one line per N: the median and the
# fastest wall time, the median CPU time (user + system: what the process
# itself spent, less disturbed by other work on the machine), the median peak
# RSS, and how many lines the plan had.
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-5}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 20000 50000)

cargo build --release -p dstack --quiet
dstack="$PWD/target/release/dstack"
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
mkdir -p "$project/.dstack"
cat >"$project/.dstack/backends.yml" <<'YAML'
backends:
  - type: fake
    name: aws
local:
  runtime: fake
YAML
cat >"$project/pool.dstack.yml" <<'YAML'
type: fleet
name: pool
nodes: 0..
placement: cluster
YAML
export NO_COLOR=1
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%8s %10s %10s %10s %8s %8s\n' nodes median_s fastest_s cpu_s rss_mb lines
for n in "${sizes[@]}"; do
    printf 'type: task\nname: big\nnodes: %s\ncommands: [hostname]\n' "$n" >"$project/big.dstack.yml"
    walls=()
    cpus=()
    rss=()
    for _ in $(seq 1 "$runs"); do
        /usr/bin/time -f '%e %M %U %S' -o "$project/time" "$dstack" --project-dir "$project" plan >"$project/out"
        read -r wall kb user sys <"$project/time"
        walls+=("$wall")
        cpus+=("$(echo "$user + $sys" | bc)")
        rss+=("$kb")
    done
    lines=$(wc -l <"$project/out")
    printf '%8s %10s %10s %10s %8s %8s\n' "$n" \
        "$(printf '%s\n' "${walls[@]}" | median)" \
        "$(printf '%s\n' "${walls[@]}" | sort -n | head -1)" \
        "$(printf '%s\n' "${cpus[@]}" | median)" \
        "$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))" \
        "$lines"
done
