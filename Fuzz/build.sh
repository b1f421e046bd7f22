#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/Targets into .build-fuzz/bin, with AddressSanitizer and
# coverage instrumentation on our module sources too (SwiftPM cannot build fuzzers).
#
#   Fuzz/build.sh [TARGET...]     default: every Fuzz/Targets/*.swift
#
# Each module is compiled once, whole-module, into one object file and a .swiftmodule; a target
# links only the modules it imports. Needs a Linux Swift toolchain (its libFuzzer runtime),
# libzstd-dev, libpng-dev and libturbojpeg0-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=.build-fuzz
mkdir -p "$out/modules" "$out/obj" "$out/bin"

common=(-parse-as-library -swift-version 6 -package-name blendset -O -g
        -sanitize=fuzzer,address -I "$out/modules" -I Sources/CZstd -I Sources/CPNG -I Sources/CTurboJPEG)
# Module → its dependencies among ours, in build order (as in Package.swift).
modules=(Basics Formats Inference Pipeline Learning Stages)
declare -A deps=(
  [Basics]="" [Formats]="Basics" [Inference]="Basics" [Pipeline]="Basics Formats"
  [Learning]="Basics Formats" [Stages]="Basics Pipeline Formats Inference Learning")
declare -A extra=([Formats]="-target-cpu native" [Inference]="-target-cpu native" [Learning]="-target-cpu native")

# Which modules each target needs: the `import` lines of its source, closed over `deps`.
needed_modules() {
  local want=" " m d
  for m in $(sed -n 's/^import \([A-Za-z]*\).*/\1/p' "$1"); do
    [[ -n "${deps[$m]+x}" ]] && want+="$m ${deps[$m]} "
  done
  # Close over dependencies (two levels are enough for this graph; loop to be sure).
  for _ in 1 2 3; do for m in $want; do for d in ${deps[$m]}; do [[ $want == *" $d "* ]] || want+="$d "; done; done; done
  for m in "${modules[@]}"; do [[ $want == *" $m "* ]] && echo "$m"; done
}

build_module() {
  local m=$1 obj="$out/obj/$1.o"
  local sources=() newest
  mapfile -t sources < <(find "Sources/$m" -name '*.swift' | sort)
  newest=$(ls -t "${sources[@]}" | head -1)
  # Rebuild when a source or a dependency is newer than the object.
  local stale=0
  [[ -f $obj && $obj -nt $newest ]] || stale=1
  for d in ${deps[$m]}; do [[ "$out/obj/$d.o" -nt $obj ]] && stale=1; done
  if ((stale)); then
    echo "  compile $m (${#sources[@]} files)"
    # shellcheck disable=SC2086
    swiftc "${common[@]}" ${extra[$m]:-} -module-name "$m" -wmo \
      -emit-module -emit-module-path "$out/modules/$m.swiftmodule" \
      -c "${sources[@]}" -o "$obj"
    touch "$obj"   # swiftc leaves an unchanged object untouched; its date records this check
  fi
}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in Fuzz/Targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
fi

start=$SECONDS
for t in "${targets[@]}"; do
  src=Fuzz/Targets/$t.swift
  [[ -f $src ]] || { echo "no such target: $t ($src)" >&2; exit 64; }
  mapfile -t mods < <(needed_modules "$src")
  for m in "${mods[@]}"; do build_module "$m"; done
  objs=(); for m in "${mods[@]}"; do objs+=("$out/obj/$m.o"); done
  echo "  link fuzz-$t (${mods[*]})"
  swiftc "${common[@]}" -module-name "Fuzz_$t" "$src" "${objs[@]}" -lzstd -lpng16 -lturbojpeg \
    -o "$out/bin/fuzz-$t" 2> >(grep -v "Cannot export local symbol" >&2)
done
echo "built ${#targets[@]} target(s) into $root/$out/bin in $((SECONDS - start)) s"
