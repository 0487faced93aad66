#!/bin/sh
# Runs each C test program given as an argument: exit 0 pass, 77 skip, anything else fail.
# Prints one line per test and then "N passed, N failed, N skipped"; exits 1 if any failed.
passed=0 failed=0 skipped=0
for t in "$@"; do
  out=$(timeout 120 "$t" 2>&1); rc=$?
  name=$(basename "$t")
  case $rc in
    0) passed=$((passed + 1)); echo "ok   $name" ;;
    77) skipped=$((skipped + 1)); echo "skip $name: $(echo "$out" | tail -n 1)" ;;
    *) failed=$((failed + 1)); echo "FAIL $name (exit $rc)"; echo "$out" | sed 's/^/    /' ;;
  esac
done
echo "c: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
