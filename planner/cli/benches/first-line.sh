#!/usr/bin/env bash
# Benchmark: wall time from starting a command to the first line it prints
# equal to a marker (issue 14): `docker run --rm busybox:latest echo M`
# against `dstack apply -y` of a Docker task and of a host-process task
# printing M, with the project's runner already running (warm). Rounds
# interleave the commands so load changes hit all alike. Every round
# applies a new run (a new name), as a user starting a new task does.
#
#   planner/cli/benches/first-line.sh [ROUNDS] [DSTACK_BIN...]
#
# Default: 11 rounds of target/release/dstack (`cargo build --release -p
# dstack`). Several binaries (e.g. before and after a change) are measured
# in the same rounds, each with its own project and runner. Needs Docker
# and the test image (`.ci/docker-up`). Prints the median and the fastest
# round per command, in ms, and the ratio of medians to `docker run`;
# then hyperfine's apply-to-finish times of a host-process task.
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-11}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$PWD/target/release/dstack")
export NO_COLOR=1
marker=first-line-marker

# ms from now until the command prints $marker on stdout (the rest of its
# output is drained and the command waited for).
to_marker() {
    local start now
    start=$(date +%s%N)
    "$@" 2> /dev/null | while IFS= read -r line; do
        if [ "$line" = "$marker" ]; then
            now=$(date +%s%N)
            echo $(((now - start) / 1000000))
        fi
    done
}

task() { # name [image]
    printf 'type: task\nname: %s\n' "$1"
    [ -z "${2:-}" ] || printf 'image: %s\n' "$2"
    printf 'commands:\n  - echo %s\n' "$marker"
}

projects=()
for b in "${bins[@]}"; do
    p=$(mktemp -d)
    projects+=("$p")
    task warmup busybox:latest > "$p/warmup.dstack.yml"
    (cd "$p" && "$b" apply -y -f warmup.dstack.yml > /dev/null 2>&1)
done
declare -A times
for i in $(seq 1 "$rounds"); do
    times[docker]+="$(to_marker docker run --rm busybox:latest echo "$marker") "
    for k in "${!bins[@]}"; do
        p=${projects[$k]}
        task "d$i" busybox:latest > "$p/d$i.dstack.yml"
        task "p$i" > "$p/p$i.dstack.yml"
        times[docker-task-$k]+="$(cd "$p" && to_marker "${bins[$k]}" apply -y -f "d$i.dstack.yml") "
        times[process-task-$k]+="$(cd "$p" && to_marker "${bins[$k]}" apply -y -f "p$i.dstack.yml") "
    done
done
stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}'; }
read -r base _ <<< "$(echo "${times[docker]}" | stats)"
printf '%-60s %9s %9s %7s\n' command median_ms min_ms ratio
row() { # label key
    read -r med min <<< "$(echo "${times[$2]}" | stats)"
    printf '%-60s %9s %9s %7s\n' "$1" "$med" "$min" "$(awk -v m="$med" -v b="$base" 'BEGIN {printf "%.2f", m / b}')"
}
row "docker run --rm busybox:latest echo M" docker
for k in "${!bins[@]}"; do
    row "${bins[$k]} apply -y (Docker task)" "docker-task-$k"
    row "${bins[$k]} apply -y (host-process task)" "process-task-$k"
done
# Host-process task, apply to finish (whole process), each run a new task
# name written by hyperfine's --prepare; all binaries in one invocation.
if command -v hyperfine > /dev/null; then
    cmds=()
    for k in "${!bins[@]}"; do
        cmds+=(--prepare "sh -c 'cd ${projects[$k]} && printf \"type: task\\nname: h%s\\ncommands:\\n  - echo $marker\\n\" \$(date +%s%N) > h.dstack.yml'"
            "sh -c 'cd ${projects[$k]} && exec ${bins[$k]} apply -y -f h.dstack.yml > /dev/null 2>&1'")
    done
    echo
    echo "host-process task, apply to finish (hyperfine, sh -c wrapper included):"
    hyperfine -N --warmup 2 --runs 15 "${cmds[@]}"
fi
for p in "${projects[@]}"; do
    if [ -f "$p/.dstack/runner/runner.json" ]; then
        pid=$(grep -o '"pid": *[0-9]*' "$p/.dstack/runner/runner.json" | grep -o '[0-9]*$')
        kill "$pid" 2> /dev/null || true
    fi
    rm -rf "$p"
done
