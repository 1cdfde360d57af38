#!/usr/bin/env bash
# The closing lines of scripts/test.sh, from the output of `cargo test` (LOG) and the lines
# tests/common's `skip` wrote for the tests that could not run (SKIPLOG, one per test):
#   skipped: 61 needs root
#   tests: N passed, M failed, K skipped
# libtest reports a test that returned early as `ok`, so each skipped test is taken off the
# passed count; `#[ignore]`d tests count as skipped too.
#   scripts/test-tally.sh LOG SKIPLOG
set -euo pipefail
log=$1
skiplog=$2
# A line: "SKIPPED: <test> (<file>:<line>): <why>"; a test is counted once.
skipped=0
if [ -s "$skiplog" ]; then
    skipped=$(sort -u "$skiplog" | grep -c '^SKIPPED: ' || true)
    sort -u "$skiplog" | sed -n 's/^SKIPPED: [^ ]* ([^)]*): //p' | sort | uniq -c |
        awk '{ n = $1; $1 = ""; printf "skipped: %d%s\n", n, $0 }'
fi
awk -v s="$skipped" '
    /^test result:/ { p += $4; f += $6; i += $8 }
    END {
        if (i > 0) printf "skipped: %d ignored (#[ignore])\n", i
        printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s + i
    }' "$log"
