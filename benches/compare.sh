#!/usr/bin/env bash
# Side-by-side throughput: denytrail against its peers on the same job, in
# one run on one machine.
#
# The job: find the AccessDenied-style denials in a CloudTrail corpus (~1 %
# denials, ~1.2 KB records) and count them by principal and action.
#
#   benches/compare.sh [--records N] [--rate R] [--runs K] [--out DIR] [--keep]
#                      [--scaling] [--memory BIG_RECORDS]
#                      [--groups "RECORDS:PRINCIPALS ..."] [--expensive]
#
# --scaling adds denytrail alone at 0.01 %, 1 % and 20 % denials (JSON Lines,
# 1 thread) and on the .json.gz archives at 1 and 2 threads.
# --memory BIG_RECORDS adds peak RSS of `replay -` fed by `generate --out -`
# through a pipe (nothing on disk) for --records and for BIG_RECORDS records
# (8000000 is about 10 GB), with 1 % and with no denials, and for one
# {"Records":[…]} document of BIG_RECORDS records read from stdin; then the
# curve of peak RSS against distinct denials at 30 % over 1 000 principals
# for BIG_RECORDS/16, /8, /4, /2 and BIG_RECORDS records (20000000 is the
# issue's curve), with the growth per added distinct denial.
# --expensive adds the expensive path, side by side with the peers: 30 %
# denials as JSON Lines on one thread (denytrail, Python, jq), and the same
# records as thousands of small CloudTrail files (10 records, ~13 KB of
# JSON each, gzipped) on two threads (denytrail, a Python loop over the
# files, jq over gzip -dc), each checked against the generator's truth.
# --groups adds, for each RECORDS:PRINCIPALS, a JSON Lines corpus with 30 %
# denials spread over PRINCIPALS principals (most groups, most distinct
# denials): denytrail replay -j1 --scope all --format json on the file, with
# peak RSS, MB/s, JSON bytes per group, and how much RSS grew per added
# denial since the previous row of the same principals (the memory that
# follows denials, not groups: the exact dedup set).
#
# Peers (installed by nobody but you: `apt-get install -y jq mtail ripgrep
# pigz hyperfine`; the script says which are missing and skips them):
#   mtail   a regex program counting by principal/action (--one_shot)
#   jq      a filter + reduce counting by principal/action
#   python  a json.loads loop counting by principal/action
#   rg      raw multi-pattern count of the prefilter's markers (-F -c -j1):
#           the bytes-only scan limit, no parsing at all
#   pigz    `pigz -dc` over the .json.gz archives: decompression only
#
# The corpus comes from the project's own generator (`denytrail generate`),
# with its ground truth; denytrail's groups must equal the truth exactly,
# and the jq and Python totals must equal the truth's distinct denials.
# Prints a table of MB/s (bytes of JSON scanned; for .json.gz the inflated
# bytes) and each tool's ratio to denytrail.
set -euo pipefail

RECORDS=80000
RATE=0.01
RUNS=3
OUT=""
KEEP=0
SCALING=0
BIG=0
GROUP_SPECS=""
EXPENSIVE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --records) RECORDS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --scaling) SCALING=1; shift ;;
        --memory) BIG=$2; shift 2 ;;
        --groups) GROUP_SPECS=$2; shift 2 ;;
        --expensive) EXPENSIVE=1; shift ;;
        -h|--help) sed -n '2,46p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/denytrail-compare.XXXXXX)
fi
mkdir -p "$OUT"
cleanup() { if [ "$KEEP" = 0 ]; then rm -rf "$OUT"; fi; }
trap cleanup EXIT

# --- peers -------------------------------------------------------------------
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
for t in jq mtail rg pigz hyperfine python3; do
    have "$t" || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing peers (skipped): ${missing[*]}" >&2
    echo "  install with: apt-get install -y jq mtail ripgrep pigz hyperfine python3" >&2
fi
have python3 || { echo "compare.sh: python3 is needed for the report" >&2; exit 1; }

# --- denytrail and the corpus ------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet)
DT="$ROOT/target/release/denytrail"
"$DT" generate --seed 7 --records "$RECORDS" --denial-rate "$RATE" \
    --records-per-file 2000 --formats records,jsonl --out "$OUT/corpus" >&2
JSONL="$OUT/corpus/jsonl/cloudtrail.jsonl"
GZDIR="$OUT/corpus/records"
# Only the trail's log files: digest files are skipped by denytrail and
# would only flatter pigz.
find "$GZDIR" -name '*.json.gz' -path '*/CloudTrail/*' | sort > "$OUT/gz.list"
JSONL_BYTES=$(stat -c %s "$JSONL")
GZ_BYTES=$(xargs cat < "$OUT/gz.list" | gzip -dc | wc -c)
echo "corpus: $RECORDS records, $((JSONL_BYTES / 1000000)) MB as JSON Lines," \
    "$(wc -l < "$OUT/gz.list") .json.gz files ($((GZ_BYTES / 1000000)) MB inflated)" >&2

# The error codes a denial carries (the classifier's list; EC2 prefixes
# `Client.`), and the message phrase that makes a denial without one.
CODES='AccessDenied|AccessDeniedException|AccessDeniedFault|AccessDeniedForDependencyException|UnauthorizedOperation|UnauthorizedAccess|UnauthorizedAccessException|UnauthorizedException|Unauthorized|AuthorizationError|AuthorizationErrorException|AuthorizationException|Forbidden|ForbiddenException|InsufficientPrivilegesException|InsufficientPermissionsException|NotAuthorized'

cat > "$OUT/deny.mtail" <<EOF
counter denials by principal, action
/"arn":"(?P<principal>[^"]*)".*"eventSource":"(?P<service>[a-z0-9-]+)\\.amazonaws\\.com","eventName":"(?P<name>[A-Za-z0-9]+)".*"errorCode":"(Client\\.)?($CODES)"/ {
  denials[\$principal][\$service + ":" + \$name]++
}
EOF

cat > "$OUT/deny.jq" <<EOF
reduce (inputs
  | select(((.errorCode // "") | test("^(Client\\\\.)?($CODES)\$"))
           or ((.errorMessage // "") | contains("not authorized to perform")))
  | [(.sharedEventID // .eventID), (.userIdentity.arn // "?"),
     ((.eventSource // "?") | split(".")[0]) + ":" + (.eventName // "?")])
  as \$r ({seen: {}, groups: {}};
    if .seen[\$r[0]] then . else
      .seen[\$r[0]] = true | .groups[\$r[1] + " " + \$r[2]] += 1 end)
| {denials: (.groups | add // 0), groups: (.groups | length)}
EOF

cat > "$OUT/deny.py" <<EOF
# deny.py FILE.jsonl, or deny.py --files LIST (CloudTrail .json.gz files,
# one json.load per file).
import gzip, json, sys
from collections import Counter
codes = set("$CODES".split("|"))

def records():
    if sys.argv[1] == "--files":
        for path in open(sys.argv[2]).read().split():
            with gzip.open(path, "rb") as f:
                yield from json.load(f).get("Records") or []
    else:
        with open(sys.argv[1], "rb") as f:
            for line in f:
                yield json.loads(line)

seen, groups = set(), Counter()
for r in records():
    code = (r.get("errorCode") or "").removeprefix("Client.")
    if code in codes or "not authorized to perform" in (r.get("errorMessage") or ""):
        key = r.get("sharedEventID") or r.get("eventID")
        if key in seen:
            continue
        seen.add(key)
        ui = r.get("userIdentity") or {}
        action = (r.get("eventSource") or "?").split(".")[0] + ":" + (r.get("eventName") or "?")
        groups[(ui.get("arn") or "?", action)] += 1
print(json.dumps({"denials": sum(groups.values()), "groups": len(groups)}))
EOF

RG_ARGS=(-c -F -j1)
for m in AccessDenied uthorized uthorizationE Forbidden Insufficient AuthFailure \
    Expired InvalidClientTokenId InvalidToken InvalidIdentityToken InvalidAccessKeyId \
    InvalidSignature SignatureDoesNotMatch IncompleteSignature RefreshRequired \
    UnrecognizedClient MissingAuthenticationToken; do
    RG_ARGS+=(-e "$m")
done

# --- correctness -------------------------------------------------------------
"$DT" replay -q -j1 --scope all --format json -o "$OUT/jsonl.json" "$JSONL"
"$DT" replay -q -j2 --scope all --format json -o "$OUT/gz.json" "$GZDIR"
ref_args=("$OUT/corpus/truth.json" "$OUT/jsonl.json" "$OUT/gz.json")
if have jq; then
    jq -n -c -f "$OUT/deny.jq" "$JSONL" > "$OUT/jq.out"
    ref_args+=(--jq "$OUT/jq.out")
fi
python3 "$OUT/deny.py" "$JSONL" > "$OUT/py.out"
ref_args+=(--py "$OUT/py.out")
if have rg; then
    rg "${RG_ARGS[@]}" "$JSONL" > "$OUT/rg.out" || true
    ref_args+=(--rg "$OUT/rg.out")
fi
if have mtail; then
    mtail --one_shot --one_shot_format prometheus --progs "$OUT/deny.mtail" \
        --logs "$JSONL" 2>/dev/null | grep '^denials{' > "$OUT/mtail.out" || true
    ref_args+=(--mtail "$OUT/mtail.out")
fi
python3 - "${ref_args[@]}" <<'EOF'
import json, sys
truth, a, b = (json.load(open(p)) for p in sys.argv[1:4])
opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
want = {(g["principal"], g["action"]): g["count"] for g in truth["groups_all"]}
ok = True
for name, rep in (("jsonl", a), ("json.gz", b)):
    got = {(g["principal"], g["action"]): g["count"] for g in rep["groups"]}
    same = got == want and rep["summary"]["denials"] == truth["denials_all"]
    ok &= same
    print(f"check: denytrail {name}: {rep['summary']['denials']} denials in {len(got)} groups;"
          f" truth {truth['denials_all']} in {len(want)}: {'same' if same else 'DIFFERENT'}")
for k in ("--jq", "--py"):
    if k in opts:
        r = json.loads(open(opts[k]).read())
        same = r["denials"] == truth["denials_all"]
        ok &= same
        print(f"check: {k[2:]} total {r['denials']} (by caller ARN and API: {r['groups']} groups):"
              f" {'same' if same else 'DIFFERENT'} as the truth's distinct denials")
if "--rg" in opts:
    print(f"check: rg lines with a marker: {open(opts['--rg']).read().strip()} "
          f"(denytrail candidates: {a['summary']['candidates']})")
if "--mtail" in opts:
    lines = open(opts["--mtail"]).read().splitlines()
    total = sum(int(float(l.rsplit(" ", 1)[1])) for l in lines)
    print(f"check: mtail counted {total} denial-coded records (no dedup) in {len(lines)} series")
sys.exit(0 if ok else 1)
EOF

# --- timing ------------------------------------------------------------------
# name|bytes|command
cmds=(
    "denytrail (JSON Lines, 1 thread)|$JSONL_BYTES|$DT replay -q -j1 --scope all --format json -o /dev/null $JSONL"
    "denytrail (.json.gz, 2 threads)|$GZ_BYTES|$DT replay -q -j2 --scope all --format json -o /dev/null $GZDIR"
    "denytrail (.json.gz, 1 thread)|$GZ_BYTES|$DT replay -q -j1 --scope all --format json -o /dev/null $GZDIR"
)
have rg && cmds+=("ripgrep -F -c -j1 (markers, no parse)|$JSONL_BYTES|rg ${RG_ARGS[*]} $JSONL")
have pigz && cmds+=("pigz -dc (.json.gz, inflate only)|$GZ_BYTES|sh -c 'xargs pigz -dc < $OUT/gz.list > /dev/null'")
have jq && cmds+=("jq (JSON Lines)|$JSONL_BYTES|jq -n -c -f $OUT/deny.jq $JSONL")
cmds+=("python json.loads loop (JSON Lines)|$JSONL_BYTES|python3 $OUT/deny.py $JSONL")
have mtail && cmds+=("mtail regex program (JSON Lines)|$JSONL_BYTES|mtail --one_shot --one_shot_format prometheus --progs $OUT/deny.mtail --logs $JSONL")

# time_rows FILE "name|bytes|command[|runs]" ...: the median of $RUNS runs
# of each command (or of its own runs, without a warm-up run, for a peer
# that takes minutes), with hyperfine, else the best of a shell loop; one
# line per command.
time_rows() {
    local file=$1; shift
    : > "$file"
    local c name bytes cmd runs warm secs best t t0 t1
    for c in "$@"; do
        IFS='|' read -r name bytes cmd runs <<< "$c"
        warm=1
        if [ -n "$runs" ]; then warm=0; else runs=$RUNS; fi
        if have hyperfine; then
            hyperfine -N -w "$warm" -r "$runs" --export-json "$OUT/h.json" "$cmd" > /dev/null 2>&1 \
                || hyperfine -w "$warm" -r "$runs" --export-json "$OUT/h.json" "$cmd" > /dev/null 2>&1
            secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$OUT/h.json")
        else
            best=""
            for _ in $(seq "$runs"); do
                t0=$(date +%s.%N); sh -c "$cmd" > /dev/null 2>&1; t1=$(date +%s.%N)
                t=$(python3 -c "print($t1 - $t0)")
                best=$(python3 -c "print(min(x for x in [$t, ${best:-1e9}]))")
            done
            secs=$best
        fi
        echo "$name|$bytes|$secs" >> "$file"
        echo "timed: $name: ${secs}s" >&2
    done
}

time_rows "$OUT/times" "${cmds[@]}"

python3 - "$OUT/times" <<'EOF'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
rows = [(n, int(b), float(s)) for n, b, s in rows]
speed = {n: b / s / 1e6 for n, b, s in rows}
dt_jsonl = speed["denytrail (JSON Lines, 1 thread)"]
dt_gz = speed["denytrail (.json.gz, 2 threads)"]
print(f"| tool | input MB | seconds | MB/s | denytrail is … × faster |")
print(f"|---|---:|---:|---:|---:|")
for n, b, s in rows:
    ref = dt_gz if ".json.gz" in n else dt_jsonl
    ratio = ref / speed[n]
    print(f"| {n} | {b / 1e6:.0f} | {s:.3f} | {speed[n]:.0f} | {ratio:.2f} |")
EOF

# --- scaling -----------------------------------------------------------------
if [ "$SCALING" = 1 ]; then
    echo
    echo "| denytrail run | input MB | seconds | MB/s | candidates | denials |"
    echo "|---|---:|---:|---:|---:|---:|"
    timed() { # label bytes report cmd...
        local label=$1 bytes=$2 report=$3; shift 3
        "$@" -o "$report"
        if have hyperfine; then
            hyperfine -N -w 1 -r "$RUNS" --export-json "$OUT/h.json" "$* -o /dev/null" > /dev/null 2>&1
            secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$OUT/h.json")
        else
            t0=$(date +%s.%N); "$@" -o /dev/null; t1=$(date +%s.%N)
            secs=$(python3 -c "print($t1 - $t0)")
        fi
        python3 - "$label" "$bytes" "$secs" "$report" <<'PY'
import json, sys
label, b, s, rep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(rep))["summary"]
print(f"| {label} | {b / 1e6:.0f} | {s:.3f} | {b / s / 1e6:.0f} | {r['candidates']} | {r['denials']} |")
PY
    }
    for rate in 0.0001 0.01 0.2; do
        d="$OUT/rate-$rate"
        "$DT" generate --seed 7 --records "$RECORDS" --denial-rate "$rate" --formats jsonl --out "$d" > /dev/null 2>&1
        f="$d/jsonl/cloudtrail.jsonl"
        timed "JSON Lines, $rate denials, 1 thread" "$(stat -c %s "$f")" "$OUT/r.json" \
            "$DT" replay -q -j1 --scope all --format json "$f"
        rm -rf "$d"
    done
    for j in 1 2; do
        timed ".json.gz, 0.01 denials, $j thread(s)" "$GZ_BYTES" "$OUT/r.json" \
            "$DT" replay -q -j"$j" --scope all --format json "$GZDIR"
    done
fi

# --- the expensive path: 30 % denials, small files ---------------------------
if [ "$EXPENSIVE" = 1 ]; then
    X="$OUT/expensive"
    "$DT" generate --seed 13 --records "$RECORDS" --denial-rate 0.3 --formats jsonl --out "$X/lines" >&2
    "$DT" generate --seed 13 --records "$RECORDS" --denial-rate 0.3 --records-per-file 10 \
        --formats records --out "$X/small" >&2
    XJ="$X/lines/jsonl/cloudtrail.jsonl"
    XS="$X/small/records"
    find "$XS" -name '*.json.gz' -path '*/CloudTrail/*' | sort > "$X/gz.list"
    XJ_BYTES=$(stat -c %s "$XJ")
    XS_BYTES=$(xargs cat < "$X/gz.list" | gzip -dc | wc -c)
    XS_FILES=$(wc -l < "$X/gz.list")
    # jq over the files' documents: the same filter on each document's records.
    sed 's|^reduce (inputs$|reduce (inputs \| (.Records // [])[]|' "$OUT/deny.jq" > "$X/files.jq"
    "$DT" replay -q -j1 --scope all --format json -o "$X/lines.json" "$XJ"
    "$DT" replay -q -j2 --scope all --format json -o "$X/small.json" "$XS"
    python3 "$OUT/deny.py" "$XJ" > "$X/py-lines.out"
    python3 "$OUT/deny.py" --files "$X/gz.list" > "$X/py-small.out"
    if have jq; then
        # Checked on a tenth of the records (jq takes minutes on all of them).
        head -n "$((RECORDS / 10))" "$XJ" > "$X/tenth.jsonl"
        jq -n -c -f "$OUT/deny.jq" "$X/tenth.jsonl" > "$X/jq-tenth.out"
        python3 "$OUT/deny.py" "$X/tenth.jsonl" > "$X/py-tenth.out"
    fi
    python3 - "$X" <<'EOF'
import json, os, sys
x = sys.argv[1]
ok = True
for corpus, rep in (("lines", "lines.json"), ("small", "small.json")):
    truth = json.load(open(f"{x}/{corpus}/truth.json"))
    r = json.load(open(f"{x}/{rep}"))
    want = {(g["principal"], g["action"]): g["count"] for g in truth["groups_all"]}
    got = {(g["principal"], g["action"]): g["count"] for g in r["groups"]}
    same = got == want and r["summary"]["denials"] == truth["denials_all"]
    ok &= same
    print(f"check: denytrail {corpus}: {r['summary']['denials']} denials in {len(got)} groups;"
          f" truth {truth['denials_all']} in {len(want)}: {'same' if same else 'DIFFERENT'}")
    t = json.load(open(f"{x}/py-{corpus}.out"))
    same = t["denials"] == truth["denials_all"]
    ok &= same
    print(f"check: python {corpus}: {t['denials']} denials: {'same' if same else 'DIFFERENT'} as the truth")
if os.path.exists(f"{x}/jq-tenth.out"):
    j, p = (json.load(open(f"{x}/{t}-tenth.out")) for t in ("jq", "py"))
    same = j == p
    ok &= same
    print(f"check: jq on the first tenth of the lines: {j['denials']} denials in {j['groups']} groups:"
          f" {'same' if same else 'DIFFERENT'} as python's")
sys.exit(0 if ok else 1)
EOF
    xcmds=(
        "denytrail (JSON Lines, 30 %, 1 thread)|$XJ_BYTES|$DT replay -q -j1 --scope all --format json -o /dev/null $XJ"
        "python json.loads loop (JSON Lines, 30 %)|$XJ_BYTES|python3 $OUT/deny.py $XJ"
    )
    # jq's dedup object makes it take minutes at 30 %: one run.
    have jq && xcmds+=("jq (JSON Lines, 30 %, one run)|$XJ_BYTES|jq -n -c -f $OUT/deny.jq $XJ|1")
    xcmds+=(
        "denytrail ($XS_FILES small .json.gz, 30 %, 2 threads)|$XS_BYTES|$DT replay -q -j2 --scope all --format json -o /dev/null $XS"
        "python gzip+json.load per file ($XS_FILES small .json.gz, 30 %)|$XS_BYTES|python3 $OUT/deny.py --files $X/gz.list"
    )
    # A script, not an inline pipeline: '|' separates the fields of a row.
    echo "xargs cat < $X/gz.list | gzip -dc | jq -n -c -f $X/files.jq" > "$X/jq-files.sh"
    have jq && xcmds+=("jq over gzip -dc ($XS_FILES small .json.gz, 30 %, one run)|$XS_BYTES|sh $X/jq-files.sh|1")
    time_rows "$X/times" "${xcmds[@]}"
    echo
    python3 - "$X/times" <<'EOF'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
rows = [(n, int(b), float(s)) for n, b, s in rows]
speed = {n: b / s / 1e6 for n, b, s in rows}
ref = {k: next(n for n, _, _ in rows if n.startswith("denytrail") and k in n) for k in ("JSON Lines", "small")}
print("| the expensive path | input MB | seconds | MB/s | denytrail is … × faster |")
print("|---|---:|---:|---:|---:|")
for n, b, s in rows:
    r = ref["small"] if "small" in n else ref["JSON Lines"]
    print(f"| {n} | {b / 1e6:.0f} | {s:.3f} | {speed[n]:.0f} | {speed[r] / speed[n]:.2f} |")
EOF
fi

# --- memory ------------------------------------------------------------------
if [ "$BIG" != 0 ]; then
    echo
    echo "| streamed through a pipe into \`replay -j1 -\` | records | input GB | denials | peak RSS MB |"
    echo "|---|---:|---:|---:|---:|"
    rss() { # label records rate doc
        local label=$1 n=$2 rate=$3 doc=$4
        if [ "$doc" = 1 ]; then
            # One document: the generator's JSON Lines joined into an array
            # (Insight records left out: real archives keep them apart).
            { printf '{"Records":['
              "$DT" generate --seed 3 --records "$n" --denial-rate "$rate" --out - 2>/dev/null \
                | grep -v AwsCloudTrailInsight | sed '1!s/^/,/'
              printf ']}'; } \
                | /usr/bin/time -f "%M" -o "$OUT/rss" "$DT" replay -q -j1 --scope all --format json -o "$OUT/m.json" -
        else
            "$DT" generate --seed 3 --records "$n" --denial-rate "$rate" --out - 2>/dev/null \
                | /usr/bin/time -f "%M" -o "$OUT/rss" "$DT" replay -q -j1 --scope all --format json -o "$OUT/m.json" -
        fi
        python3 - "$label" "$n" "$OUT/m.json" "$(tail -1 "$OUT/rss")" <<'PY'
import json, sys
label, n, rep, rss = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
r = json.load(open(rep))["summary"]
print(f"| {label} | {n} | {r['bytes'] / 1e9:.2f} | {r['denials']} | {rss / 1024:.0f} |")
PY
    }
    rss "JSON Lines, 1 % denials" "$RECORDS" 0.01 0
    rss "JSON Lines, 1 % denials" "$BIG" 0.01 0
    rss "JSON Lines, no denials" "$RECORDS" 0 0
    rss "JSON Lines, no denials" "$BIG" 0 0
    rss "one {\"Records\":[…]} document, 1 % denials" "$BIG" 0.01 1

    # The curve: 30 % denials over a fixed 1,000 principals, so that the
    # groups stop growing early and what still grows is what follows
    # distinct denials (the exact dedup set). Each row: peak RSS, and how
    # much it grew per distinct denial added since the previous row.
    echo
    echo "| 30 % denials, 1 000 principals, through a pipe into \`replay -j1 --scope all -\` | records | input GB | distinct denials | groups | peak RSS MB | RSS growth B per added denial |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    : > "$OUT/curve.prev"
    for div in 16 8 4 2 1; do
        n=$((BIG / div))
        "$DT" generate --seed 5 --records "$n" --denial-rate 0.3 --principals 1000 --out - 2>/dev/null \
            | /usr/bin/time -f "%M" -o "$OUT/rss" "$DT" replay -q -j1 --scope all --format json -o "$OUT/c.json" -
        python3 - "$n" "$OUT/c.json" "$(tail -1 "$OUT/rss")" "$OUT/curve.prev" <<'PY'
import json, sys
n, rep, rss, prev = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) * 1024, sys.argv[4]
with open(rep) as f:
    r = json.load(f)["summary"]
growth = ""
rows = [l.split() for l in open(prev)]
if rows:
    d0, rss0 = int(rows[-1][0]), int(rows[-1][1])
    if r["denials"] > d0:
        growth = f"{(rss - rss0) / (r['denials'] - d0):.1f}"
with open(prev, "a") as f:
    f.write(f"{r['denials']} {rss}\n")
print(f"| | {n} | {r['bytes'] / 1e9:.2f} | {r['denials']} | {r['groups']} | {rss / 2**20:.0f} | {growth} |")
PY
        rm -f "$OUT/c.json"
    done
fi

# --- groups: memory follows groups, not denials ------------------------------
if [ -n "$GROUP_SPECS" ]; then
    echo
    echo "| JSON Lines, 30 % denials, replay -j1 | records | principals | input MB | denials | groups | peak RSS MB | MB/s | JSON B/group | RSS growth B per added denial |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    : > "$OUT/groups.prev"
    for spec in $GROUP_SPECS; do
        n=${spec%%:*}; p=${spec##*:}
        "$DT" generate --seed 9 --records "$n" --denial-rate 0.3 --principals "$p" --out - 2>/dev/null > "$OUT/g.jsonl"
        /usr/bin/time -f "%M %e" -o "$OUT/rss" "$DT" replay -q -j1 --scope all --format json -o "$OUT/g.json" "$OUT/g.jsonl"
        python3 - "$n" "$p" "$OUT/g.json" "$(tail -1 "$OUT/rss")" "$OUT/groups.prev" <<'PY'
import json, os, sys
n, p, rep, (rss_kb, secs), prev = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4].split(), sys.argv[5]
rss, secs = int(rss_kb) * 1024, float(secs)
with open(rep) as f:
    r = json.load(f)["summary"]
size = os.path.getsize(rep)
growth = ""
rows = [l.split() for l in open(prev)]
same = [row for row in rows if int(row[0]) == p]
if same:
    _, d0, rss0 = same[-1]
    if r["denials"] > int(d0):
        growth = f"{(rss - int(rss0)) / (r['denials'] - int(d0)):.1f}"
with open(prev, "a") as f:
    f.write(f"{p} {r['denials']} {rss}\n")
print(f"| | {n} | {p} | {r['bytes'] / 1e6:.0f} | {r['denials']} | {r['groups']} | {rss / 2**20:.0f} "
      f"| {r['bytes'] / 1e6 / secs:.0f} | {size / max(r['groups'], 1):.0f} | {growth} |")
PY
        rm -f "$OUT/g.jsonl" "$OUT/g.json"
    done
fi
