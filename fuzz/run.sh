#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20), one after the other,
# seeded from `denytrail generate` (and, for the checkpoint and shard
# targets, from files the real binary writes). A crash, a failed assertion,
# a leak or a timeout stops the run with exit 1, names the target and keeps
# the input in fuzz/artifacts/TARGET/; make it a regression test.
#
#   bash fuzz/run.sh [SECONDS] [TARGET ...]
#
# Needs cargo-fuzz and the nightly toolchain (.ci/setup installs cargo-fuzz).
# The corpus grows in fuzz/corpus/TARGET across runs (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(detect records lines documents gzip message record checkpoint shard scan envelope)
fi

cargo build --release --quiet
bin=$PWD/target/release/denytrail
seeds=$(mktemp -d)
cleanup() {
  if [ -n "${watch_pid:-}" ]; then kill "$watch_pid" 2>/dev/null || true; fi
  rm -rf "$seeds"
}
trap cleanup EXIT

# Whole files of every format, small (10 records a file).
"$bin" generate --seed 3 --records 60 --records-per-file 10 --denial-rate 0.4 \
  --formats records,records-json,jsonl,lookup-events,cw-export,cw-subscription,text \
  --out "$seeds/gen" 2>/dev/null
mkdir -p "$seeds/files" "$seeds/lines" "$seeds/checkpoint" "$seeds/shard" "$seeds/envelope"
find "$seeds/gen" -type f ! -name truth.json | while read -r f; do
  cp "$f" "$seeds/files/$(echo "$f" | md5sum | cut -c1-16)"
done
# Single records and lines.
find "$seeds/gen/jsonl" "$seeds/gen/text" "$seeds/gen/cw-export" -type f ! -name truth.json \
  -exec cat {} + >"$seeds/all-lines"
head -n 300 "$seeds/all-lines" | split -l 1 - "$seeds/lines/l"

# Queue message bodies: an S3 event notification, the same inside SNS, an
# EventBridge CloudTrail event, CloudTrail's SNS notification.
key='AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/f+1.json.gz'
s3='{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"'$key'","size":9,"eTag":"e","sequencer":"01"}}}]}'
printf '%s' "$s3" >"$seeds/envelope/s3"
printf '{"Type":"Notification","Message":%s}' "$(printf '%s' "$s3" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" >"$seeds/envelope/sns"
printf '{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":%s}' "$(head -n 1 "$seeds/gen/jsonl/"*)" >"$seeds/envelope/eventbridge"
printf '{"s3Bucket":"b","s3ObjectKey":["%s"]}' "$key" >"$seeds/envelope/cloudtrail-sns"

# A shard report, as `replay --shard` writes it.
"$bin" replay -q --scope all --shard 0/2 --format json -o "$seeds/shard/s0.json" \
  "$seeds/gen/jsonl"

# A checkpoint, as `watch` writes it: wait (bounded) for its first write.
state=$seeds/state
"$bin" watch --file "$seeds/gen/jsonl/*" --from start --state-dir "$state" \
  --checkpoint-interval 100ms --listen 127.0.0.1:0 2>/dev/null &
watch_pid=$!
for _ in $(seq 1 100); do
  [ -s "$state/checkpoint.json" ] && break
  sleep 0.1
done
kill -TERM "$watch_pid"
wait "$watch_pid" || true
watch_pid=
cp "$state/checkpoint.json" "$seeds/checkpoint/"

seed_dir() {
  case $1 in
    detect | records | documents | gzip | scan) echo "$seeds/files" ;;
    lines | message | record) echo "$seeds/lines" ;;
    checkpoint) echo "$seeds/checkpoint" ;;
    shard) echo "$seeds/shard" ;;
    envelope) echo "$seeds/envelope" ;;
  esac
}

cd fuzz
cargo +nightly fuzz build -O
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  echo "fuzz: $t for ${secs}s"
  if ! cargo +nightly fuzz run -O "$t" "corpus/$t" "$(seed_dir "$t")" -- \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: target $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz: $t: $runs executions in ${secs}s, corpus $(ls "corpus/$t" | wc -l) inputs"
  summary+=("$t: $runs executions in ${secs}s")
  rm -f "$log"
done
printf 'fuzz: %s\n' "${summary[@]}"
