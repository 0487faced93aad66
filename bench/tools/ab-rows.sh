#!/bin/bash
# ab-rows.sh: every row of the read, nop and tcp suites as an ab.mjs A/B of two built checkouts
# (the thread engine, five pairs a row), the form of issue 11's before/after comparison:
#
#   bench/tools/ab-rows.sh <checkout A> <checkout B> <out dir> [more ab.mjs options, e.g. --cpus 0]
#
# Writes each row's ab.mjs table to <out dir>/<row>.txt (and .json) and its summary line to
# <out dir>/summary.txt. With AB_ROWS_CONTROL=1 each row's A/B is followed at once by the same row
# with checkout B on both sides (the control: how far this machine moves the row with nothing
# changed), written to <row>-control.txt and summed up as "<row> control: …". Run from the
# repository root with Node 24 on the PATH, after the tcp suite built its C peer once. Not a test.
set -euo pipefail
a=$1 b=$2 out=$3
shift 3
mkdir -p "$out"
# ab <checkout A> <checkout B> <file stem> <label> <ab.mjs options…>: one ab.mjs table and its summary line.
ab() {
  local from=$1 to=$2 stem=$3 label=$4
  shift 4
  node bench/ab.mjs --a "$from" --b "$to" --engine thread --pairs 5 "$@" --json "$out/$stem.json" >"$out/$stem.txt"
  echo "$label: $(tail -n 1 "$out/$stem.txt")" >>"$out/summary.txt"
}
row() {
  local name=$1
  shift
  ab "$a" "$b" "$name" "$name" "$@"
  if [ "${AB_ROWS_CONTROL:-}" = 1 ]; then ab "$b" "$b" "$name-control" "$name control" "$@"; fi
}
for api in callback promise effect; do
  row "read1-$api" --op read --depth 1 --api "$api" "$@"
  row "read64-$api" --op read --depth 64 --api "$api" "$@"
  row "nop256-$api" --op nop --depth 256 --api "$api" "$@"
  row "nop1-$api" --op nop --depth 1 --api "$api" "$@"
done
for api in callback promise; do
  row "tcp1-$api" --op tcp --depth 1 --api "$api" "$@"
  row "tcp16-$api" --op tcp --depth 16 --api "$api" "$@"
  row "tcp16node-$api" --op tcp --depth 16 --peer node --api "$api" "$@"
  row "stream-$api" --op stream --depth 1 --api "$api" "$@"
  row "sink-$api" --op sink --depth 1 --api "$api" "$@"
done
