#!/usr/bin/env bash
# Requests per second of the mock API on one core.
#
#   bash apps/mock-api/bench/requests.sh            # or: yarn workspace @mockstagram/mock-api bench
#
# Starts src/main.ts pinned to CPU core 0 (taskset), faults off, logging at warn, then runs wrk
# pinned to core 1 (64 keep-alive connections, one thread, 10 s). Prints the commands and req/s.
# Needs wrk (Debian: apt-get install -y wrk) and taskset (util-linux).
#
# Environment:
#   MOCK_API_PORT  port to start the server on (default 3001; must be free)
#   SERVER_CPU     core for the server (default 0);  WRK_CPU core for wrk (default 1)
#   DURATION       wrk duration (default 10s);       CONNECTIONS (default 64)
#   IDS=random     request a random id in the default range each time (wrk Lua script)
#                  instead of always /api/v1/influencers/1234567
set -euo pipefail

cd "$(dirname "$0")/.."
PORT="${MOCK_API_PORT:-3001}"
SERVER_CPU="${SERVER_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
URL="http://127.0.0.1:${PORT}/api/v1/influencers/1234567"

command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install -y wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is not installed (Debian: util-linux)" >&2; exit 1; }

SERVER_CMD=(taskset -c "$SERVER_CPU" node --import tsx src/main.ts)
LOG="$(mktemp)"
MOCK_API_PORT="$PORT" LOG_LEVEL=warn "${SERVER_CMD[@]}" >"$LOG" 2>&1 &
SERVER_PID=$!
SCRIPT=""
cleanup() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  rm -f "$LOG" ${SCRIPT:+"$SCRIPT"}
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:${PORT}/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$LOG" >&2; exit 1; fi
  sleep 0.1
done

WRK_CMD=(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION")
if [[ "${IDS:-}" == "random" ]]; then
  SCRIPT="$(mktemp --suffix=.lua)"
  cat >"$SCRIPT" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/influencers/" .. math.random(1000000, 1999999))
end
LUA
  WRK_CMD+=(-s "$SCRIPT")
fi
WRK_CMD+=("$URL")

# Warm up (JIT) before measuring.
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "$URL" >/dev/null

LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: MOCK_API_PORT=$PORT LOG_LEVEL=warn ${SERVER_CMD[*]}   (in apps/mock-api)"
echo "client: ${WRK_CMD[*]}"
OUT="$("${WRK_CMD[@]}")"
echo "$OUT"
RPS="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$OUT")"
echo "node $(node --version), $(nproc) cores, load average before the run: ${LOAD}"
echo "req/s: ${RPS}"
