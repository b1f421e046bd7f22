#!/usr/bin/env bash
# Regenerates Fuzz/Corpus/table_file and Fuzz/Corpus/tflite (see make_seeds.swift). The other
# seeds were written by hand or with python3/zstd/zip; they are small and committed as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
Fuzz/build.sh table_file tflite >/dev/null   # the instrumented Basics, Formats, Inference objects
out=.build-fuzz/seedgen; mkdir -p "$out"
# The tests' model builder, without its @testable import (it needs only public API).
sed 's/^@testable import Inference/import Inference/' Tests/InferenceTests/TFLiteModelBuilder.swift > "$out/TFLiteModelBuilder.swift"
swiftc -parse-as-library -swift-version 6 -package-name blendset -O -sanitize=fuzzer,address \
  -I .build-fuzz/modules -I Sources/CZstd -I Sources/CPNG -module-name MakeSeeds \
  Fuzz/Seeds/make_seeds.swift "$out/TFLiteModelBuilder.swift" \
  .build-fuzz/obj/Basics.o .build-fuzz/obj/Formats.o .build-fuzz/obj/Inference.o -lzstd -lpng16 \
  -o "$out/make-seeds" 2> >(grep -v "Cannot export local symbol" >&2)
mkdir -p Fuzz/Corpus/table_file Fuzz/Corpus/tflite
SEED_DIR=$PWD/Fuzz/Corpus "$out/make-seeds"
ls -l Fuzz/Corpus/table_file Fuzz/Corpus/tflite
