#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 14 (ASan + UBSan) into build-fuzz/ and, with
# FUZZ_SECONDS set, runs each on a scratch copy of its committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-fuzz
mkdir -p "$out"
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include -I src \
  fuzz/event_decoder_fuzz.cc src/domain/json.cc src/domain/canonical_json.cc \
  src/domain/time.cc src/domain/ids.cc src/domain/event_decoder.cc \
  src/common/sha256.cc src/common/status.cc \
  -lsimdjson -lboost_json -lcrypto -o "$out/event_decoder_fuzz"
echo "built $out/event_decoder_fuzz"
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include -I src \
  fuzz/lambda_sources_fuzz.cc src/sources/dynamodb/dynamodb_stream.cc \
  src/sources/sqs/sqs_messages.cc src/sources/source_event.cc src/sources/push_source.cc \
  src/domain/json.cc src/domain/canonical_json.cc src/domain/time.cc src/domain/ids.cc \
  src/domain/event_decoder.cc src/common/sha256.cc src/common/status.cc \
  -lsimdjson -lboost_json -lcrypto -o "$out/lambda_sources_fuzz"
echo "built $out/lambda_sources_fuzz"
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include -I src \
  fuzz/merkle_proof_fuzz.cc src/domain/merkle.cc src/common/sha256.cc src/common/status.cc \
  -lcrypto -o "$out/merkle_proof_fuzz"
echo "built $out/merkle_proof_fuzz"
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include -I src \
  fuzz/export_row_fuzz.cc src/exports/export_format.cc src/exports/canonical_event.cc \
  src/domain/canonical_json.cc src/common/status.cc \
  -lsimdjson -lboost_json -lz -o "$out/export_row_fuzz"
echo "built $out/export_row_fuzz"
if [ -n "${FUZZ_SECONDS:-}" ]; then
  work=$(mktemp -d)
  cp fuzz/corpus/event_decoder/* "$work/"
  "$out/event_decoder_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len=16384 "$work"
  work=$(mktemp -d)
  cp fuzz/corpus/lambda_sources/* "$work/"
  "$out/lambda_sources_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len=16384 "$work"
  work=$(mktemp -d)
  cp fuzz/corpus/merkle_proof/* "$work/"
  "$out/merkle_proof_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len=4096 "$work"
  work=$(mktemp -d)
  cp fuzz/corpus/export_row/* "$work/"
  "$out/export_row_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len=4096 "$work"
fi
