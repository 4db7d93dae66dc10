#!/usr/bin/env bash
# Benchmark the Go server against the seed's Node design on this machine and
# write bench/REPORT.md and bench/results.json.
#
# Each scenario runs BENCH_RUNS times per target against a fresh server
# pinned to core 0, with the load generator pinned to core 1; the report
# shows medians. Everything listens on 127.0.0.1 only and every process this
# script starts is stopped on exit.
#
# The Pusher Channels scenarios run against the Go server only (the Node
# baseline has no Pusher endpoint), with a Pusher app configured; the one
# across tasks (BROKER=redis) also starts a fresh redis-server per run, on
# the server's core, and is skipped when redis-server is not installed.
#
# Environment:
#   BENCH_TARGETS  servers to measure, any of "go node" (default: both)
#   BENCH_RUNS     runs per scenario and target (default 3; 1 when quick)
#   BENCH_QUICK    1: about a tenth of every size, 3 s phases; checks the
#                  harness in under two minutes, its numbers mean little
#   BENCH_PORT     first of three free loopback ports (default 18480): the
#                  server, its admin listener, and redis-server
#   BENCH_HOLD_MAX connections for the largest hold (default 19000)
#   BENCH_OUT      raw results folder (default bench/tmp/results)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGETS=${BENCH_TARGETS:-go node}
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then RUNS=${BENCH_RUNS:-1}; else RUNS=${BENCH_RUNS:-3}; fi
PORT=${BENCH_PORT:-18480}
ADMIN_PORT=$((PORT + 1))
REDIS_PORT=$((PORT + 2))
HOLD_MAX=${BENCH_HOLD_MAX:-19000}
OUT=${BENCH_OUT:-$ROOT/bench/tmp/results}
URL="ws://127.0.0.1:$PORT/wss"
PUSHER_URL="ws://127.0.0.1:$PORT"
# The bench's own Pusher app; the secret signs API requests and presence
# subscriptions, and reaches loadgen through its environment.
PUSHER_SECRET=bench-secret-not-for-production
PUSHER_APP="PUSHER_APP_ID=bench PUSHER_APP_KEY=bench-key PUSHER_APP_SECRET=$PUSHER_SECRET"
PUSHER_FLAGS="-app-id bench -key bench-key"
# Settings from the caller's environment must not reach the servers: each
# scenario's server gets exactly what SERVER_CMD gives it.
unset PUSHER_APP_ID PUSHER_APP_KEY PUSHER_APP_SECRET BROKER REDIS_URL REDIS_CLUSTER
HAVE_REDIS=0
command -v redis-server >/dev/null && HAVE_REDIS=1

for t in $TARGETS; do
  [[ $t == go || $t == node ]] || { echo "BENCH_TARGETS: unknown target '$t' (want go and/or node)" >&2; exit 2; }
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS: '$RUNS' is not a positive whole number" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench needs taskset (apt-get install -y util-linux)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench needs curl (apt-get install -y curl)" >&2; exit 1; }
if (($(nproc) < 2)); then echo "bench needs 2 CPUs to pin server and generator apart; nproc says $(nproc)" >&2; exit 1; fi

# --- processes we start, stopped on any exit --------------------------------
SERVER_PID=
REDIS_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $REDIS_PID ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  # loadgen runs in the foreground; a Ctrl-C reaches it through the terminal.
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- build -------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT" bin
log "building bin/loadgen"
go build -trimpath -o bin/loadgen ./server/cmd/loadgen
if [[ " $TARGETS " == *" go "* ]]; then
  log "building bin/wsserver"
  go build -trimpath -o bin/wsserver ./server/cmd/wsserver
fi
if [[ " $TARGETS " == *" node "* ]]; then
  command -v node >/dev/null || { echo "the node target needs Node.js 20 (apt-get install -y nodejs npm)" >&2; exit 1; }
  log "npm ci in bench/node"
  (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

GO_ENV="ADDR=127.0.0.1:$PORT ADMIN_ADDR=127.0.0.1:$ADMIN_PORT LOG_LEVEL=warn EMF_INTERVAL=0 DRAIN_DELAY=0s DRAIN_SPREAD=0s MAX_CONNECTIONS=25000 RATE_LIMIT=0 SOURCE_MAX_CONNECTIONS=0 SOURCE_CONNECT_RATE=0"
declare -A SERVER_CMD=(
  [go]="env $GO_ENV taskset -c 0 bin/wsserver"
  [node]="env PORT=$PORT HOST=127.0.0.1 taskset -c 0 node bench/node/server.js"
  # The Go server with a Pusher app, alone (in memory) and across tasks.
  [go-pusher]="env $GO_ENV SOURCE_API_RATE=0 $PUSHER_APP taskset -c 0 bin/wsserver"
  [go-redis]="env $GO_ENV SOURCE_API_RATE=0 $PUSHER_APP BROKER=redis REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 REDIS_CLUSTER=no taskset -c 0 bin/wsserver"
)
REDIS_CMD="taskset -c 0 redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --protected-mode yes"

start_server() {
  local target=$1
  for p in "$PORT" "$ADMIN_PORT"; do
    port_free "$p" || { echo "port $p on 127.0.0.1 is in use; set BENCH_PORT" >&2; exit 1; }
  done
  # taskset and env exec the server, so $! is the server's own pid.
  # shellcheck disable=SC2086 # the command is a list of words by design
  ${SERVER_CMD[$target]} >>"$OUT/server-$target.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the $target server exited; see $OUT/server-$target.log" >&2; tail -20 "$OUT/server-$target.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the $target server did not answer /health within 10 s" >&2
  exit 1
}

# start_redis runs a fresh redis-server for one run of a go-redis scenario.
start_redis() {
  port_free "$REDIS_PORT" || { echo "port $REDIS_PORT on 127.0.0.1 is in use; set BENCH_PORT" >&2; exit 1; }
  mkdir -p "$OUT/redis"
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --protected-mode yes --dir "$OUT/redis" >>"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then return 0; fi
    kill -0 "$REDIS_PID" 2>/dev/null || { echo "redis-server exited; see $OUT/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "redis-server did not listen within 10 s" >&2
  exit 1
}

stop_redis() {
  kill -TERM "$REDIS_PID" 2>/dev/null || true
  { wait "$REDIS_PID"; } 2>/dev/null || true
  REDIS_PID=
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  # Graceful drain is not what is measured here; do not wait for it.
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  { wait "$SERVER_PID"; } 2>/dev/null || true # no "Killed" job notice
  SERVER_PID=
}

# --- scenarios: name and loadgen arguments -----------------------------------
if [[ $QUICK == 1 ]]; then
  SCENARIOS=(
    "hold10k|hold -conns 1000 -rate 1000 -settle 1s -d 3s"
    "fanout1k|fanout -conns 100 -rate 50 -d 3s -drain 2s"
    "fanout5k|fanout -conns 500 -rate 10 -d 3s -drain 2s"
    "churn|churn -workers 32 -d 3s"
    "throughput|throughput -conns 10 -d 3s"
    "holdmax|hold -conns $((HOLD_MAX / 10)) -rate 2000 -settle 1s -d 3s"
  )
  # name, server, loadgen arguments: the Go server only.
  PUSHER_SCENARIOS=(
    "pusher-fanout5k|go-pusher|pusher-fanout -conns 500 -rate 10 -d 3s -drain 2s"
    "pusher-channels10k|go-pusher|pusher-channels -conns 1000 -channels 100 -rate 100 -batch 10 -d 3s -drain 2s"
    "pusher-presence|go-pusher|pusher-presence -conns 100 -channels 10 -d 3s -drain 2s"
    "pusher-hold10k|go-pusher|pusher-hold -conns 1000 -channels 100 -rate 1000 -settle 1s -d 3s"
    "pusher-fanout5k-redis|go-redis|pusher-fanout -conns 500 -rate 10 -d 3s -drain 2s"
  )
else
  SCENARIOS=(
    "hold10k|hold -conns 10000 -rate 2000 -settle 3s -d 10s"
    "fanout1k|fanout -conns 1000 -rate 50 -d 15s"
    "fanout5k|fanout -conns 5000 -rate 10 -d 15s"
    "churn|churn -workers 32 -d 10s"
    "throughput|throughput -conns 100 -d 10s"
    "holdmax|hold -conns $HOLD_MAX -rate 2000 -settle 3s -d 10s"
  )
  PUSHER_SCENARIOS=(
    "pusher-fanout5k|go-pusher|pusher-fanout -conns 5000 -rate 10 -d 15s"
    "pusher-channels10k|go-pusher|pusher-channels -conns 10000 -channels 1000 -rate 1000 -batch 10 -d 15s"
    "pusher-presence|go-pusher|pusher-presence -conns 1000 -channels 100 -d 15s"
    "pusher-hold10k|go-pusher|pusher-hold -conns 10000 -channels 1000 -rate 2000 -settle 3s -d 10s"
    "pusher-fanout5k-redis|go-redis|pusher-fanout -conns 5000 -rate 10 -d 15s"
  )
fi

{
  for t in $TARGETS; do
    printf 'server\t%s\t%s\n' "$t" "${SERVER_CMD[$t]}"
  done
  if [[ " $TARGETS " == *" go "* ]]; then
    printf 'server\t%s\t%s\n' go-pusher "${SERVER_CMD[go-pusher]}"
    ((HAVE_REDIS)) && printf 'server\t%s\t%s\n' go-redis "${SERVER_CMD[go-redis]}  (with $REDIS_CMD)"
  fi
} >"$OUT/commands.tsv"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
FAILED=()

# run_one runs one scenario once against a fresh server: name, run number,
# result folder (the target's), server (a SERVER_CMD key), URL, loadgen
# arguments.
run_one() {
  local name=$1 run=$2 target=$3 server=$4 url=$5 args=$6
  local dir="$OUT/$name/$target" aux=()
  mkdir -p "$dir"
  if [[ $server == go-redis ]]; then
    start_redis
    aux=(-aux-pid "redis=$REDIS_PID")
  fi
  start_server "$server"
  log "$name run $run/$RUNS: $server (pid $SERVER_PID)"
  # shellcheck disable=SC2086 # args is a list of words by design
  if ! PUSHER_APP_SECRET=$PUSHER_SECRET taskset -c 1 bin/loadgen $args -json -progress lines -progress-interval 5s \
    -pid "$SERVER_PID" "${aux[@]}" "$url" >"$dir/run$run.json" 2>"$dir/run$run.log"; then
    log "$name run $run: $server: loadgen failed; see $dir/run$run.log"
    tail -5 "$dir/run$run.log" >&2
    rm -f "$dir/run$run.json"
    FAILED+=("$name/$target/run$run")
  elif ! kill -0 "$SERVER_PID" 2>/dev/null || ! curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
    # Something outside this script stopped or killed the server during
    # the run (another job on a shared machine, say): its numbers would
    # describe the outage, not the server.
    log "$name run $run: the $server server did not survive the run; discarding it"
    mv "$dir/run$run.json" "$dir/run$run.discarded.json"
    FAILED+=("$name/$target/run$run (server died)")
  fi
  stop_server
  [[ -n $REDIS_PID ]] && stop_redis
  return 0
}

for spec in "${SCENARIOS[@]}"; do
  name=${spec%%|*}
  args=${spec#*|}
  for t in $TARGETS; do
    printf '%s\t%s\t%s\n' "$name" "$t" "taskset -c 1 bin/loadgen $args -json -pid <server pid> $URL" >>"$OUT/commands.tsv"
  done
  # Runs alternate between the targets so that a noisy minute on this
  # shared machine does not land on one of them only.
  for run in $(seq "$RUNS"); do
    for t in $TARGETS; do
      run_one "$name" "$run" "$t" "$t" "$URL" "$args"
    done
  done
done

if [[ " $TARGETS " == *" go "* ]]; then
  for spec in "${PUSHER_SCENARIOS[@]}"; do
    IFS='|' read -r name server args <<<"$spec"
    if [[ $server == go-redis ]] && ((!HAVE_REDIS)); then
      log "$name: skipped, redis-server is not installed (apt-get install -y redis-server)"
      continue
    fi
    aux_note=""
    [[ $server == go-redis ]] && aux_note=" -aux-pid redis=<redis-server pid>"
    printf '%s\t%s\t%s\n' "$name" go "taskset -c 1 bin/loadgen $args $PUSHER_FLAGS -json -pid <server pid>$aux_note $PUSHER_URL" >>"$OUT/commands.tsv"
    for run in $(seq "$RUNS"); do
      run_one "$name" "$run" go "$server" "$PUSHER_URL" "$args $PUSHER_FLAGS"
    done
  done
fi

if [[ " $TARGETS " == *" go "* ]]; then
  benchtime=1s
  [[ $QUICK == 1 ]] && benchtime=100ms
  log "go micro-benchmarks (-benchtime $benchtime)"
  echo "\$ go test -run '^\$' -bench . -benchmem -benchtime $benchtime ./server/..." >"$OUT/gobench.txt"
  go test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./server/... 2>&1 | grep -v '^ok\|no test files\|^PASS$' >>"$OUT/gobench.txt" ||
    FAILED+=("go micro-benchmarks")
fi

cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- server bench 2>/dev/null || echo ' (with uncommitted changes in server/ or bench/)')"
  echo "NPROC=$(nproc)"
  echo "CPU_MODEL=${cpu_model:-unknown}"
  echo "KERNEL=$(uname -sr)"
  echo "GO_VERSION=$(go version)"
  echo "NODE_VERSION=$(node --version 2>/dev/null || echo none)"
  echo "NOFILE=$(ulimit -Hn)"
  echo "RUNS=$RUNS"
  echo "QUICK=$QUICK"
  echo "TARGETS=$TARGETS"
  echo "LOADAVG_START=$LOADAVG_START"
  echo "LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "FAILED=${FAILED[*]}"
} >"$OUT/meta.env"

bin/loadgen report -dir "$OUT" -template bench/REPORT.md.tmpl -o bench/REPORT.md -json bench/results.json
log "wrote bench/REPORT.md and bench/results.json (raw results in ${OUT#"$ROOT"/})"
if ((${#FAILED[@]})); then
  log "failed: ${FAILED[*]}"
  exit 1
fi
