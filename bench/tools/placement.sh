#!/bin/bash
# placement.sh: one thread-engine run of ab.mjs's TCP echo (16 connections, callback API) with the
# JS thread, the loop thread and the C peer confined to the CPUs given, 0.7 s after start (before
# the measured windows), to tell the thread engine's rate on two CPUs by where its threads run:
#
#   bench/tools/placement.sh <checkout> <JS thread CPUs> <loop thread CPUs> <peer CPUs>
#   e.g. bench/tools/placement.sh . 0 0 1     # JS and loop thread on CPU 0, the peer on CPU 1
#
# Prints the round trips a second, the process's CPU µs per round trip and its enters per round
# trip. Run from the repository root with Node 24 on the PATH, after the tcp suite built its C peer
# once. Not a test.
set -euo pipefail
side=$1 js=$2 loopcpus=$3 peercpus=$4
out=$(mktemp)
trap 'rm -f "$out"' EXIT
node bench/ab.mjs --child 1 --side "$side" --op tcp --depth 16 --windows 6 --ms 400 --engine thread \
  --api callback --peer c >"$out" &
pid=$!
sleep 0.7
taskset -p -c "$js" "$pid" >/dev/null
for task in /proc/"$pid"/task/*; do
  if [ "$(cat "$task/comm" 2>/dev/null)" = "iou-loop" ]; then taskset -p -c "$loopcpus" "$(basename "$task")" >/dev/null; fi
done
peer=$(pgrep -f 'tcp-peer echo' | head -n 1 || true)
if [ -n "$peer" ]; then taskset -a -p -c "$peercpus" "$peer" >/dev/null; fi
wait "$pid"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop())
console.log(`${Math.round(r.rate)} round trips/s, ${r.cpuUsPerOp.toFixed(2)} CPU µs each, ${r.entersPerOp.toFixed(3)} enters each`)
' "$out"
