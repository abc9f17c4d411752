#!/usr/bin/env bash
# Runs every annals benchmark side by side and writes a markdown report to
# bench/results/latest.md (also printed at the end). `make bench` calls it.
#
#   scripts/bench.sh [--quick] [--seconds N] [--only peers,http,query,tail,micro,cdc]
#                    [--query-events N] [--query-data DIR] [--work-dir DIR] [--build-dir DIR]
#
#   --quick           5 s per measurement and a 1-million-event query dataset
#   --seconds N       duration of each sustained measurement (default 60)
#   --only LIST       run only these parts (default: peers,http,query,tail,micro,cdc)
#   --query-events N  events in the query dataset (default 10,000,000; 1,000,000 with --quick)
#   --query-data DIR  where the query dataset is built and kept for reuse
#                     (default bench/results/query-data-N)
#   --work-dir DIR    scratch space for the ingest runs and servers (default /var/tmp; must be
#                     a real disk, not tmpfs)
#   --build-dir DIR   CMake build directory (default build; configured RelWithDebInfo if new)
#
# Parts: peers = in-process durable ingest of annals vs a raw file, SQLite and PostgreSQL
# (bench_peers starts and stops its own PostgreSQL); http = `annals serve` on a temporary data
# dir under HTTP load (http_bench); query = first-page queries at 10M events, in process and
# over HTTP (query_bench, with the server opened on the dataset); tail = live-tail fan-out
# (100 subscribers at 1,000 events/s, 10 at 10,000) and memory per idle connection
# (tail_bench); micro = Google Benchmark
# micro benchmarks; cdc = PostgreSQL change capture: end-to-end lag at 2,000, 5,000 and 10,000
# changes/s, and pgbench throughput without capture, with annals and with an audit trigger
# (cdc_bench, which starts its own PostgreSQL servers). The benchmarks measure; they never
# fail on a missed target.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0
seconds=60
only="peers,http,query,tail,micro,cdc"
query_events=""
query_data=""
work_dir=/var/tmp
build_dir=build
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --query-events) query_events=${2:?--query-events needs a value}; shift 2 ;;
    --query-events=*) query_events=${1#*=}; shift ;;
    --query-data) query_data=${2:?--query-data needs a value}; shift 2 ;;
    --query-data=*) query_data=${1#*=}; shift ;;
    --work-dir) work_dir=${2:?--work-dir needs a value}; shift 2 ;;
    --work-dir=*) work_dir=${1#*=}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)." >&2; exit 2 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "bench.sh: --seconds takes a whole number." >&2; exit 2 ;; esac
if [ "$quick" -eq 1 ]; then seconds=5; fi
if [ -z "$query_events" ]; then
  if [ "$quick" -eq 1 ]; then query_events=1000000; else query_events=10000000; fi
fi
case "$query_events" in ''|*[!0-9]*) echo "bench.sh: --query-events takes a whole number." >&2; exit 2 ;; esac
query_data=${query_data:-$ROOT/bench/results/query-data-$query_events}
for part in ${only//,/ }; do
  case "$part" in peers|http|query|tail|micro|cdc) ;; *) echo "bench.sh: unknown part '$part' in --only." >&2; exit 2 ;; esac
done
want() { [[ ",$only," == *",$1,"* ]]; }

log() { echo "bench.sh: $*" >&2; }

# --- build -----------------------------------------------------------------------------------
# The benchmarks are switched on only for this build and switched off again afterwards, so
# that `make build` / `make test` in the same directory do not compile them.
bench_option_before=OFF
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANNALS_BUILD_BENCH=ON >&2
else
  bench_option_before=$(sed -n 's/^ANNALS_BUILD_BENCH:BOOL=//p' "$build_dir/CMakeCache.txt")
  cmake -S . -B "$build_dir" -DANNALS_BUILD_BENCH=ON >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
case "$build_type" in
  Release|RelWithDebInfo|MinSizeRel) ;;
  *) log "warning: $build_dir is a '$build_type' build; numbers from it are not representative." ;;
esac
log "building ($build_type) in $build_dir..."
cmake --build "$build_dir" --target annals bench_peers http_bench tail_bench query_bench micro_bench \
  cdc_bench >&2
if [ "$bench_option_before" != "ON" ]; then
  cmake -S . -B "$build_dir" -DANNALS_BUILD_BENCH=OFF >/dev/null
fi
BIN="$build_dir/bench"

# --- report scaffolding ------------------------------------------------------------------------
results="$ROOT/bench/results"
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
run_dir="$results/run-$stamp"
mkdir -p "$run_dir"
sections="$run_dir/sections.md"
targets="$run_dir/targets.md"
: >"$sections"
: >"$targets"
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true  # the idle-connection benchmark opens thousands of sockets

server_pid=""
server_dir=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$server_dir" ]; then rm -rf "$server_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

admin_key="bench_admin_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# Starts `annals serve` on data dir $1; sets server_pid and server_url. The workload's
# organizations are created on first use, and the per-key rate limit is off: the load
# generator sends everything with one key.
start_server() {
  local data=$1 log_file=$2
  ANNALS_ADMIN_KEY="$admin_key" ANNALS_ORGS_AUTO_CREATE=true \
    ANNALS_RATE_LIMIT_REQUESTS_PER_SECOND=0 "$build_dir/annals" serve --data "$data" \
    --listen 127.0.0.1:0 2>"$log_file" &
  server_pid=$!
  server_url=""
  for _ in $(seq 1 600); do
    server_url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log_file" 2>/dev/null |
      head -1 | sed 's/^listening on //') || true
    if [ -n "$server_url" ]; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  log "the server did not start; its log:"
  tail -20 "$log_file" >&2
  return 1
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

machine() {
  local model cores mem kernel disk dev fs
  model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
  cores=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  kernel=$(uname -r)
  dev=$(df --output=source "$work_dir" | tail -1)
  fs=$(df --output=fstype "$work_dir" | tail -1)
  disk=$(lsblk -dno NAME,ROTA,SIZE,MODEL "$dev" 2>/dev/null |
    awk '{m = ""; for (i = 4; i <= NF; i++) m = m " " $i;
          printf "%s%s, %s, the kernel reports it %s", $1, m, $3, ($2 == 1 ? "rotational" : "non-rotational")}')
  if lscpu | grep -q '^Hypervisor vendor'; then
    model="$model ($(lscpu | sed -n 's/^Hypervisor vendor: *//p') virtual machine)"
  fi
  echo "- CPU: $model, $cores cores"
  echo "- Memory: $mem"
  echo "- Disk: ${disk:-$dev} ($fs, scratch in $work_dir)"
  echo "- Kernel: Linux $kernel"
  echo "- Build: $build_type ($(c++ --version | head -1)), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' + local changes')"
  echo "- Load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Let the build's load fade before measuring (up to a minute).
for _ in $(seq 1 60); do
  awk '{ exit !($1 < 1.0) }' /proc/loadavg && break
  sleep 1
done
machine_info=$(machine)
load1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
  log "warning: the load average is $load1; other work on this machine will skew the numbers."
  machine_info+=$'\n'"- **Warning:** the machine was not idle (load average $load1 at the start)."
fi
commands=()
status=0

# --- peers: in-process durable ingest ------------------------------------------------------------
if want peers; then
  log "durable ingest, side by side ($seconds s per system)..."
  cmd=("$BIN/bench_peers" --seconds "$seconds" --dir "$work_dir")
  commands+=("${cmd[*]}")
  "${cmd[@]}" --markdown "$sections" --targets "$targets" >/dev/null || status=1
fi

# --- http: annals serve under load ---------------------------------------------------------------
if want http; then
  log "HTTP ingest ($seconds s per mode)..."
  server_dir=$(mktemp -d "$work_dir/annals-bench-http.XXXXXX")
  if start_server "$server_dir/data" "$run_dir/server-http.log"; then
    commands+=("ANNALS_ADMIN_KEY=KEY $build_dir/annals serve --data DIR --listen 127.0.0.1:0 &"
      "$BIN/http_bench --server URL --key KEY --seconds $seconds --server-pid PID")
    "$BIN/http_bench" --server "$server_url" --key "$admin_key" --seconds "$seconds" \
      --server-pid "$server_pid" --markdown "$sections" --targets "$targets" >/dev/null || status=1
    stop_server
  else
    status=1
  fi
  rm -rf "$server_dir"
  server_dir=""
fi

# --- query: first pages at 10M events ------------------------------------------------------------
if want query; then
  log "query dataset of $query_events events in $query_data (built once, then reused)..."
  # Build (or reuse) in one process, measure in a fresh one so its peak RSS is the queries'.
  cmd=("$BIN/query_bench" --data "$query_data" --events "$query_events" --phase build)
  commands+=("${cmd[*]}")
  built=0
  "${cmd[@]}" >/dev/null && built=1 || status=1
  cmd=("$BIN/query_bench" --data "$query_data" --events "$query_events" --phase inprocess)
  commands+=("${cmd[*]}")
  if [ "$built" -eq 1 ] && "${cmd[@]}" --markdown "$sections" --targets "$targets" >/dev/null; then
    if start_server "$query_data" "$run_dir/server-query.log"; then
      commands+=("ANNALS_ADMIN_KEY=KEY $build_dir/annals serve --data $query_data --listen 127.0.0.1:0 &"
        "$BIN/query_bench --data $query_data --events $query_events --phase http --server URL --key KEY --server-pid PID")
      "$BIN/query_bench" --data "$query_data" --events "$query_events" --phase http \
        --server "$server_url" --key "$admin_key" --server-pid "$server_pid" \
        --markdown "$sections" --targets "$targets" >/dev/null || status=1
      stop_server
    else
      status=1
    fi
  else
    status=1
  fi
fi

# --- tail: live-tail fan-out and idle connections ----------------------------------------------
if want tail; then
  log "live tail fan-out and idle connections..."
  tail_seconds=$(( seconds < 30 ? seconds : 30 ))
  server_dir=$(mktemp -d "$work_dir/annals-bench-tail.XXXXXX")
  {
    echo "### Live tail fan-out (tail_bench, $tail_seconds s each)"
    echo
    echo "Rows with 0 subscribers are the ingest-only baseline of the same rate: the tail's own"
    echo "CPU is the difference in server CPU seconds."
    echo
  } >>"$sections"
  first=1
  for scenario in "0 1000" "100 1000" "0 10000" "10 10000"; do
    set -- $scenario
    if start_server "$server_dir/data-$1-$2" "$run_dir/server-tail.log"; then
      cmd=("$BIN/tail_bench" --server "$server_url" --key "$admin_key" --server-pid "$server_pid"
        --mode tail --subscribers "$1" --rate "$2" --seconds "$tail_seconds" --org "org_tail_$1_$2")
      commands+=("${cmd[*]}")
      if [ $first -eq 1 ]; then
        "${cmd[@]}" >>"$sections" || status=1
        first=0
      else
        "${cmd[@]}" | tail -1 >>"$sections" || status=1
      fi
      stop_server
    else
      status=1
    fi
  done
  echo >>"$sections"
  if start_server "$server_dir/data-idle" "$run_dir/server-idle.log"; then
    cmd=("$BIN/tail_bench" --server "$server_url" --key "$admin_key" --server-pid "$server_pid"
      --mode idle --connections 5000)
    commands+=("${cmd[*]}")
    { echo "### Memory per idle connection"; echo; "${cmd[@]}" || status=1; echo; } >>"$sections"
    stop_server
  else
    status=1
  fi
  rm -rf "$server_dir"
  server_dir=""
fi

# --- cdc: PostgreSQL change capture -------------------------------------------------------------
if want cdc; then
  log "change capture: lag at 2,000/5,000/10,000 changes/s, then pgbench with and without capture..."
  cdc_seconds=$(( seconds < 30 ? seconds : 30 ))
  cmd=("$BIN/cdc_bench" --mode lag --seconds "$cdc_seconds" --dir "$work_dir")
  commands+=("${cmd[*]}")
  "${cmd[@]}" --markdown "$sections" >/dev/null || status=1
  cmd=("$BIN/cdc_bench" --mode throughput --seconds "$cdc_seconds" --dir "$work_dir")
  commands+=("${cmd[*]}")
  "${cmd[@]}" --markdown "$sections" >/dev/null || status=1
fi

# --- micro ---------------------------------------------------------------------------------------
if want micro; then
  log "micro benchmarks..."
  cmd=("$BIN/micro_bench" --benchmark_min_time=0.5)
  commands+=("${cmd[*]}")
  {
    echo "### Micro benchmarks (Google Benchmark, one core)"
    echo
    echo '```'
    "${cmd[@]}" 2>&1 | grep -v '^\*\*\*' || status=1
    echo '```'
    echo
  } >>"$sections"
fi

# --- report --------------------------------------------------------------------------------------
machine_info+=$'\n'"- Load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg)"
report="$run_dir/report.md"
{
  echo "## annals benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine:"
  echo
  echo "$machine_info"
  echo
  if [ -s "$targets" ]; then
    echo "### Targets (issue 2)"
    echo
    echo "| target | measured | met |"
    echo "|---|---|---|"
    cat "$targets"
    echo
  fi
  cat "$sections"
  echo "### Commands"
  echo
  echo '```'
  echo "scripts/bench.sh $([ "$quick" -eq 1 ] && echo --quick || echo --seconds "$seconds")  # all of the below"
  for c in "${commands[@]}"; do echo "$c"; done
  echo '```'
} >"$report"
cp "$report" "$results/latest.md"
cat "$report"
log "report written to bench/results/latest.md (and $run_dir/)"
exit "$status"
