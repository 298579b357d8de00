#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz on stable Rust (`--sanitizer none`: the address sanitizer
# needs nightly `-Z` flags; plexgate forbids unsafe code, so a panic is what is being hunted).
#
#   fuzz/run.sh smoke [RUNS]        every target, RUNS inputs each (default 20000): CI
#   fuzz/run.sh campaign [RUNS]     every target, one after another, RUNS each (default 10000000)
#   fuzz/run.sh campaign RUNS T…    only the targets named
#
# Inputs come from the committed seeds in fuzz/corpus/<target>/ (read only); new inputs go to
# fuzz/work/<target>/ (git-ignored), logs to fuzz/work/logs/. A crash stops the run, leaves the
# input in fuzz/artifacts/<target>/ and makes this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(ticket canonicalize scope range hls dash config)
mode=${1:-smoke}
runs=${2:-}
shift $(($# > 2 ? 2 : $#))
[ $# -gt 0 ] && TARGETS=("$@")
case $mode in
  smoke) runs=${runs:-20000} ;;
  campaign) runs=${runs:-10000000} ;;
  *) echo "usage: fuzz/run.sh smoke|campaign [RUNS [TARGET…]]" >&2; exit 2 ;;
esac

dict_of() {
  case $1 in
    hls | dash | config) echo "fuzz/dict/$1.dict" ;;
    canonicalize | scope) echo "fuzz/dict/path.dict" ;;
    *) echo "" ;;
  esac
}

cargo fuzz build --sanitizer none
mkdir -p fuzz/work/logs
for t in "${TARGETS[@]}"; do
  work=fuzz/work/$t
  [ "$mode" = smoke ] && work=$(mktemp -d)
  mkdir -p "$work"
  args=(-runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  d=$(dict_of "$t")
  [ -n "$d" ] && args+=(-dict="$d")
  log=fuzz/work/logs/$t-$mode.log
  start=$(date +%s)
  printf '==> fuzz %s: %s inputs\n' "$t" "$runs"
  if ! cargo fuzz run --sanitizer none "$t" "$work" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: target $t failed (log: $log, input: fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  [ "$mode" = smoke ] && rm -rf "$work"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  secs=$(($(date +%s) - start))
  printf '    %s: %s inputs in %ss (%s/s), 0 crashes\n' "$t" "$execs" "$secs" "$((execs / (secs > 0 ? secs : 1)))"
done
