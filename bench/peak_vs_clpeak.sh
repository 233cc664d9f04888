#!/bin/sh
# seqboat peak against clpeak (Debian package `clpeak`) on one device,
# interleaved, N rounds each (default 5), best of the rounds on both sides:
# a single round of either tool varies by 15-20 % on a shared machine.
#   bench/peak_vs_clpeak.sh [BUILD_DIR] [ROUNDS]
# Device: the first one the ICD loader shows (choose it with OCL_ICD_VENDORS,
# and SEQBOAT_DEVICE for seqboat). Prints one line per round and a summary:
# fp32 GFLOP/s and global-memory GB/s of both tools, and ours / clpeak's.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
rounds=${2:-5}
command -v clpeak >/dev/null || { echo "peak_vs_clpeak.sh: clpeak is not installed (apt-get install clpeak)" >&2; exit 1; }
[ -x "$build/seqboat" ] || { echo "peak_vs_clpeak.sh: $build/seqboat not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=1
while [ "$i" -le "$rounds" ]; do
    clpeak -d 0 -p 0 --global-bandwidth --compute-sp >"$tmp/clpeak.$i" 2>&1 || true
    "$build/seqboat" peak --no-cache --quiet --json "$tmp/ours.$i.json" >/dev/null
    i=$((i + 1))
done
python3 - "$tmp" "$rounds" <<'EOF'
import json, re, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
best = {"cl_bw": 0.0, "cl_sp": 0.0, "bw": 0.0, "sp": 0.0}
for i in range(1, rounds + 1):
    text = open(f"{tmp}/clpeak.{i}").read()
    sec = None
    bw = sp = 0.0
    for line in text.splitlines():
        if "Global memory bandwidth" in line: sec = "bw"
        elif "Single-precision compute" in line: sec = "sp"
        elif "(GBPS)" in line or "(GFLOPS)" in line: sec = None
        m = re.match(r"\s*float\d*\s*:\s*([0-9.]+)", line)
        if m and sec == "bw": bw = max(bw, float(m.group(1)))
        if m and sec == "sp": sp = max(sp, float(m.group(1)))
    d = json.load(open(f"{tmp}/ours.{i}.json"))["devices"][0]
    print(f"round {i}: clpeak {bw:6.2f} GB/s {sp:7.2f} GFLOP/s | seqboat peak "
          f"{d['bandwidth_gbs']:6.2f} GB/s (copy {d['copy_gbs']:.2f}, read {d['read_gbs']:.2f}) "
          f"{d['fp32_gflops']:7.2f} GFLOP/s")
    best["cl_bw"] = max(best["cl_bw"], bw); best["cl_sp"] = max(best["cl_sp"], sp)
    best["bw"] = max(best["bw"], d["bandwidth_gbs"]); best["sp"] = max(best["sp"], d["fp32_gflops"])
print(f"device: {d['name']} ({d['platform']}, driver {d['driver']})")
if best["cl_bw"] > 0:
    print(f"bandwidth, best of {rounds}: clpeak {best['cl_bw']:.2f} GB/s, seqboat peak {best['bw']:.2f} GB/s: "
          f"{100 * (best['bw'] / best['cl_bw'] - 1):+.1f} %")
if best["cl_sp"] > 0:
    print(f"fp32, best of {rounds}: clpeak {best['cl_sp']:.2f} GFLOP/s, seqboat peak {best['sp']:.2f} GFLOP/s: "
          f"{best['sp'] / best['cl_sp']:.2f}x")
EOF
