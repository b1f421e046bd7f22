#!/usr/bin/env bash
# Runs libFuzzer targets for SECONDS each on a copy of their seed corpus.
#
#   Fuzz/run.sh SECONDS [TARGET...]     default: every Fuzz/Targets/*.swift
#
# Builds what is missing or stale first (Fuzz/build.sh). Prints, per target, the executions,
# executions per second, peak RSS and the result. Exits 1 if any target found something
# (crash, leak, timeout, out-of-memory); the reproducer is kept under .build-fuzz/findings/
# and can be replayed with `.build-fuzz/bin/fuzz-TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 1)) && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: Fuzz/run.sh SECONDS [TARGET...]" >&2; exit 64; }
seconds=$1; shift
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in Fuzz/Targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
fi
Fuzz/build.sh "${targets[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/blendset-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p .build-fuzz/findings .build-fuzz/logs
failed=()
printf '%-14s %8s %12s %8s %8s  %s\n' target seconds executions exec/s rss_mb result
for t in "${targets[@]}"; do
  corpus=$work/$t
  mkdir -p "$corpus"
  [[ -d Fuzz/Corpus/$t ]] && cp Fuzz/Corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  findings=.build-fuzz/findings/$t
  mkdir -p "$findings"
  log=.build-fuzz/logs/$t.log
  start=$SECONDS
  status=0
  dict=(); [[ -f Fuzz/Dictionaries/$t.dict ]] && dict=(-dict="Fuzz/Dictionaries/$t.dict")
  # TMPDIR is private to the run: targets that need a scratch file put it there.
  # Swift's own backtracer would run inside the crashed process and trip ASan itself; the
  # reproducer is replayed with it below, which names the Swift source line.
  SWIFT_BACKTRACE=enable=no TMPDIR=$work ".build-fuzz/bin/fuzz-$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$findings/" ${dict[@]+"${dict[@]}"} "$corpus" >"$log" 2>&1 || status=$?
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  execs=$(stat number_of_executed_units); rate=$(stat average_exec_per_sec); rss=$(stat peak_rss_mb)
  if ((status == 0)); then
    result=ok
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [[ -n $artifact && -f $artifact ]]; then
      { echo "=== replay with the Swift backtracer"
        SWIFT_BACKTRACE=enable=yes,interactive=no,color=no TMPDIR=$work ".build-fuzz/bin/fuzz-$t" "$artifact" 2>&1 || true; } >>"$log"
    fi
    where=$(grep -oE '(Swift runtime failure|Fatal error)[^/]*|at [^ ]*Sources/[^ ]*:[0-9]+' "$log" | head -2 | tr '\n' ' ' || true)
    kind=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+|Fatal error|deadly signal' "$log" || echo "exit $status")
    result="FINDING ($kind${where:+; $where}) reproducer: ${artifact:-none} log: $log"
    failed+=("$t")
  fi
  printf '%-14s %8s %12s %8s %8s  %s\n' "$t" "$((SECONDS - start))" "${execs:-?}" "${rate:-?}" "${rss:-?}" "$result"
done
if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
