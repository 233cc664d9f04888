#!/bin/sh
# Bench report CI step: a short `seqboat bench --report` on the default device
# (small model, two lengths), then bench/report merging it with a second
# device (a copy whose phase split is unavailable, as on rusticl), then each
# page opened in headless Chromium (Debian `chromium`, installed through
# bootstrap.sh): the page must render its charts (DOM checked with
# --dump-dom), a screenshot is taken, the console must show nothing but the
# page's own render line, and the page must reference nothing on the network.
# Env: BUILD_DIR (default build), OUT (default build/ci_report).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh chromium
BUILD_DIR="${BUILD_DIR:-build}"
OUT="${OUT:-build/ci_report}"
rm -rf "$OUT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
t0=$(date +%s)

"$BUILD_DIR/seqboat" bench --lengths 64,128 --d-model 32 --d-qk 16 --d-hidden 64 --window 16 \
    --methods sma,dense --repeats 2 --no-build-time --quiet --report "$OUT/one" > "$OUT/bench.txt"
cat "$OUT/bench.txt"
test -s "$OUT/one/index.html"

# a second "device": the same results with the split withheld (rusticl-like)
python3 - "$OUT/one/bench.json" "$OUT/other.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for d in doc['devices']:
    d['name'] = 'second ' + d['name']
    d['platform'] = 'Other platform'
for r in doc['results']:
    r['phase_split_ok'] = False
    r['phase_split'] = 'profiled device time spans 0.01% of the wall time (test)'
    r['phase_ms'] = {k: None for k in r['phase_ms']}
    for q in r.get('phases', {}).values():
        q['ms'] = q['gflop_per_s'] = q['roofline_pct'] = None
json.dump(doc, open(sys.argv[2], 'w'))
EOF
python3 bench/report "$OUT/one/bench.json" "$OUT/other.json" --out "$OUT/merged"

rc=0
check_page() { # folder, expected charts at least
    dir="$1"
    want="$2"
    url="file://$dir/index.html"
    ext=$(grep -o 'https\?://[^" )]*' "$dir/index.html" | grep -v '^http://www.w3.org/2000/svg$' || true)
    if [ -n "$ext" ]; then
        echo "ci_report: $dir/index.html references the network: $ext"
        rc=1
    fi
    timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
        --window-size=1400,2600 --screenshot="$dir/screenshot.png" "$url" > "$dir/chromium.out" \
        2> "$dir/chromium.log" || { echo "ci_report: chromium --screenshot failed"; rc=1; }
    timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
        --dump-dom "$url" > "$dir/dom.html" 2>> "$dir/chromium.log" || {
        echo "ci_report: chromium --dump-dom failed"
        rc=1
    }
    if [ ! -s "$dir/screenshot.png" ]; then
        echo "ci_report: no screenshot"
        rc=1
    fi
    if ! grep -q 'data-render="ok"' "$dir/dom.html"; then
        echo "ci_report: the page did not render (no data-render=\"ok\" in the DOM)"
        rc=1
    fi
    n=$(sed -n 's/.*data-charts="\([0-9]*\)".*/\1/p' "$dir/dom.html" | head -n 1)
    if [ -z "$n" ] || [ "$n" -lt "$want" ]; then
        echo "ci_report: $n charts rendered, expected at least $want"
        rc=1
    fi
    # the console: the page logs one line; anything else (an error, a
    # failed load reported by the page) fails the step
    if ! grep -q 'CONSOLE.*seqboat-report: rendered' "$dir/chromium.log"; then
        echo "ci_report: the page's console line is missing (console not captured?)"
        rc=1
    fi
    if grep 'CONSOLE' "$dir/chromium.log" | grep -v 'seqboat-report: rendered'; then
        echo "ci_report: console messages above"
        rc=1
    fi
    echo "ci_report: $dir: $n charts, screenshot $(wc -c < "$dir/screenshot.png" 2>/dev/null || echo 0) bytes"
}
check_page "$OUT/one" 4
check_page "$OUT/merged" 6
echo "ci_report: $(($(date +%s) - t0)) s"
exit $rc
