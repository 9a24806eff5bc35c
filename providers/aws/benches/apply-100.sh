#!/usr/bin/env bash
# Benchmark: `dstack apply` of a 100-instance spot GPU fleet against moto,
# default parallelism (10 steps at once) versus `--parallelism 1`, then
# `dstack destroy`. Each run starts from empty state and a reset moto.
#
#   providers/aws/benches/apply-100.sh [RUNS]      (default 3 runs per mode)
#
# Uses target/debug/dstack built with the CI feature selection, and moto from
# .ci/moto-up on MOTO_PORT (default 5077; started and stopped here unless it
# is already running). MOTO_LATENCY_MS=N delays every EC2 call by N ms (moto
# answers in milliseconds, EC2 in tens to hundreds). Prints one line per run
# and the medians.
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-3}
port=${MOTO_PORT:-5077}
endpoint="http://127.0.0.1:${port}"

cargo build --workspace --features dstack/aws --quiet
dstack="$PWD/target/debug/dstack"
pidfile="${HOME}/.cache/dstack-rs/run/moto-${port}.pid"
already=false
curl -sf "${endpoint}/_faults" >/dev/null 2>&1 && already=true
bash .ci/moto-up "$port" --latency-ms "${MOTO_LATENCY_MS:-0}" >/dev/null
stop() {
    if [ "$already" = false ] && [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    rm -rf "$project"
}
project=$(mktemp -d)
trap stop EXIT

mkdir -p "$project/.dstack"
cat >"$project/.dstack/backends.yml" <<YAML
backends:
  - type: aws
    regions: [us-east-1]
    endpoint_url: ${endpoint}
local:
  enabled: false
YAML
cat >"$project/fleet.dstack.yml" <<'YAML'
type: fleet
name: bench
nodes: 100
backends: [aws]
spot_policy: spot
resources:
  gpu: A10G:1
YAML
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true NO_COLOR=1
cd "$project"

seconds() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for parallelism in 10 1; do
    applies=()
    destroys=()
    for run in $(seq 1 "$runs"); do
        curl -sf -X POST "${endpoint}/moto-api/reset" >/dev/null
        rm -rf .dstack/state.db .dstack/ssh
        start=$(seconds)
        "$dstack" apply -y --parallelism "$parallelism" >apply.log 2>&1
        mid=$(seconds)
        "$dstack" destroy -y --parallelism "$parallelism" >destroy.log 2>&1
        end=$(seconds)
        created=$(grep -c "instance/[0-9]*: Creation complete" apply.log || true)
        apply_s=$(echo "$mid - $start" | bc)
        destroy_s=$(echo "$end - $mid" | bc)
        applies+=("$apply_s")
        destroys+=("$destroy_s")
        printf 'parallelism %2s run %s: apply %6.2f s (%s instances), destroy %6.2f s\n' \
            "$parallelism" "$run" "$apply_s" "$created" "$destroy_s"
    done
    printf 'parallelism %2s median: apply %6.2f s, destroy %6.2f s\n' "$parallelism" \
        "$(printf '%s\n' "${applies[@]}" | median)" "$(printf '%s\n' "${destroys[@]}" | median)"
done
