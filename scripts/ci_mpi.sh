#!/bin/sh
# MPI checks of `seqboat run` and `seqboat bench` (issue 15) on PoCL, with
# Open MPI from Debian: installs openmpi-bin and libopenmpi-dev through
# bootstrap.sh, configures ./build with -DSEQBOAT_MPI=ON, then under
# `mpirun --allow-run-as-root --oversubscribe -np 2` and `-np 3`:
#   - every fixture of tests/data (tests/data/extra: -np 3 only), ragged batches (also in several chunks per
#     rank), more ranks than sequences, one causal sequence longer than a
#     block: the output file equals one process's byte for byte with relu2
#     attention, within SPEC tolerance with softmax (tests/mpi/compare.py);
#   - failures: a rank with no such device, a bad token id in the last
#     rank's slice, a missing input: non-zero exit, the failing rank's
#     message, no output file and no temporary file left;
#   - --stats prints one line per rank; bench gathers every rank's rows;
#   - weights in f16 (--precision f16) and int8 (--weights int8): the output
#     equals one process's with the same option byte for byte (relu2), and
#     --stats shows each rank's weight bytes, those of one such process, f16
#     under f32 and int8 under f16.
# Env: BUILD_DIR (default build).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh openmpi-bin libopenmpi-dev
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DSEQBOAT_MPI=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target seqboat_cli >/dev/null
SB="$(cd "$BUILD_DIR" && pwd)/seqboat"
D="$PWD/tests/data"
T=$(mktemp -d /tmp/seqboat-mpi-XXXXXX)
trap 'rm -rf "$T"' EXIT
export SEQBOAT_CACHE_DIR="$T/cache"
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

python3 tests/mpi/make_inputs.py "$D" "$T"
# name:model:input:rank counts
cases=""
for io in "$D"/*.io.safetensors "$D"/extra/*.io.safetensors; do
    c=$(basename "$io" .io.safetensors)
    nps=2,3; case $io in */extra/*) nps=3 ;; esac
    cases="$cases $c:${io%.io.safetensors}.model.safetensors:$io:$nps"
done
cases="$cases ragged:$D/causal_relu2_layernorm.model.safetensors:$T/ragged.io.safetensors:2,3"
cases="$cases lm_ragged:$D/lm_tokens.model.safetensors:$T/lm_ragged.io.safetensors:2,3"
cases="$cases long:$D/causal_relu2_layernorm.model.safetensors:$T/long.io.safetensors:2,3"
n=0
for spec in $cases; do
    c=${spec%%:*}; rest=${spec#*:}; model=${rest%%:*}; rest=${rest#*:}; io=${rest%%:*}
    nps=$(echo "${rest#*:}" | tr , ' ')
    "$SB" run --model "$model" --input "$io" --output "$T/$c.np1" || { bad "$c: one process"; continue; }
    for np in $nps; do
        for chunk in 0 64; do
            [ "$chunk" = 64 ] && case $c in ragged|lm_ragged) ;; *) continue ;; esac
            out="$T/$c.np$np.c$chunk"
            opt=""; [ "$chunk" = 0 ] || opt="--chunk-tokens $chunk"
            if $MPIRUN -np $np "$SB" run --model "$model" --input "$io" --output "$out" \
                    $opt --stats 2>"$T/err"; then
                if how=$(python3 tests/mpi/compare.py "$model" "$T/$c.np1" "$out"); then
                    n=$((n + 1)); echo "ok: $c np=$np chunk-tokens=$chunk: $how"
                else bad "$c np=$np chunk-tokens=$chunk: $how"; fi
                lines=$(grep -c "^rank [0-9]* of $np on .* (device .*): sequences [0-9]*\.\.[0-9]*, [0-9]* valid tokens$" "$T/err" || true)
                [ "$lines" = "$np" ] || { bad "$c np=$np: $lines per-rank --stats lines, expected $np"; cat "$T/err"; }
            else
                bad "$c np=$np: mpirun failed"; cat "$T/err"
            fi
        done
    done
done

# failures: exit status non-zero, the failing rank's message, no output, no temp file
fail_case() { # name expected-message-regex mpirun-arguments...
    name=$1 re=$2; shift 2
    rm -f "$T/fail.out"
    if $MPIRUN "$@" >"$T/fout" 2>"$T/ferr"; then bad "$name: exit status 0"; return; fi
    grep -Eq "$re" "$T/ferr" || { bad "$name: no message matching '$re'"; cat "$T/ferr"; }
    [ ! -e "$T/fail.out" ] || bad "$name: output file left"
    ls "$T" | grep -q "fail.out.tmp" && bad "$name: temporary file left"
    echo "ok: $name: $(grep -E "$re" "$T/ferr" | head -1)"
}
M="$D/causal_relu2_layernorm.model.safetensors"
IO="$T/ragged.io.safetensors"
fail_case "rank 1 has no such device" "seqboat run: rank 1 of 2 on .*: .*device" \
    -np 1 "$SB" run --model "$M" --input "$IO" --output "$T/fail.out" --device 0 : \
    -np 1 "$SB" run --model "$M" --input "$IO" --output "$T/fail.out" --device 99
fail_case "bad token id in the last rank's slice" "seqboat run: rank 2 of 3 on .*: token id [0-9]+ at \(b=3, t=10\)" \
    -np 3 "$SB" run --model "$D/lm_tokens.model.safetensors" --input "$T/bad_ids.io.safetensors" --output "$T/fail.out"
fail_case "missing input" "seqboat run: rank 0 of 2 on .*: cannot open" \
    -np 2 "$SB" run --model "$M" --input "$T/no-such-file" --output "$T/fail.out"

# weight storage: every rank loads as the options say; the output is one such process's
wbytes() { # the per-rank weight bytes of a --stats log: "min max count"
    sed -n "s/^rank [0-9]* of [0-9]*: weights on the device ($1): \([0-9]*\) bytes$/\1/p" "$2" |
        sort -n | awk 'NR == 1 {a = $1} {b = $1; n++} END {print a + 0, b + 0, n + 0}'
}
for w in "f16:--precision f16" "int8:--weights int8"; do
    wn=${w%%:*}; wopt=${w#*:}
    if ! "$SB" run --model "$M" --input "$IO" --output "$T/w.np1" $wopt --stats 2>"$T/err1"; then
        bad "$wn: one process"; cat "$T/err1"; continue
    fi
    if ! $MPIRUN -np 2 "$SB" run --model "$M" --input "$IO" --output "$T/w.np2" $wopt --stats 2>"$T/err"; then
        bad "$wn np=2: mpirun failed"; cat "$T/err"; continue
    fi
    how=$(python3 tests/mpi/compare.py "$M" "$T/w.np1" "$T/w.np2") || { bad "$wn np=2: $how"; continue; }
    n=$((n + 1))
    set -- $(wbytes "$wn" "$T/err")
    one=$(sed -n "s/^weights on the device ($wn): .* MiB (\([0-9]*\) bytes)$/\1/p" "$T/err1")
    if [ "$3" != 2 ] || [ "$1" != "$2" ] || [ "$1" = 0 ]; then
        bad "$wn np=2: per-rank weight bytes '$*' (min max ranks)"; cat "$T/err"
    elif [ "$1" != "$one" ]; then
        bad "$wn np=2: ranks hold $1 weight bytes, one process '$one'"
    else
        echo "ok: $wn np=2: $how with one $wn process; $1 weight bytes on each rank, as one process"
    fi
    eval "wb_$wn=$1"
done
if $MPIRUN -np 2 "$SB" run --model "$M" --input "$IO" --output "$T/w.f32" --stats 2>"$T/err"; then
    set -- $(wbytes f32 "$T/err")
    # f16 halves the weight matrices, int8 quarters them (plus a float scale per channel)
    if [ "$3" = 2 ] && [ "${wb_f16:-0}" -gt 0 ] && [ "$wb_f16" -lt "$1" ] && \
            [ "${wb_int8:-0}" -gt 0 ] && [ "$wb_int8" -lt "$wb_f16" ]; then
        echo "ok: weight bytes per rank: f32 $1, f16 $wb_f16, int8 $wb_int8"
    else bad "weight bytes per rank: f32 '$*', f16 ${wb_f16:-?}, int8 ${wb_int8:-?}"; fi
else bad "f32 np=2 --stats failed"; cat "$T/err"; fi

# bench: one JSON / CSV with a row per rank, naming host and rank
if $MPIRUN -np 2 "$SB" bench --device all --lengths 64 --methods sma --d-model 64 --d-qk 32 \
        --d-hidden 128 --window 16 --repeats 1 --warmup 0 --no-build-time --quiet \
        --json "$T/b.json" --csv "$T/b.csv" >/dev/null 2>"$T/err"; then
    r=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sorted((r['rank'], r['status']) for r in d['results']) == [(0, 'ok'), (1, 'ok')] and all(r['host'] for r in d['results']))" "$T/b.json")
    [ "$r" = True ] || bad "bench: JSON rows do not name ranks 0 and 1"
    [ "$(grep -c ',ok,.*,[01],f32$' "$T/b.csv")" = 2 ] || bad "bench: CSV rows"
    [ "$r" = True ] && echo "ok: bench np=2: one JSON / CSV, rows of ranks 0 and 1"
else
    bad "bench np=2 failed"; cat "$T/err"
fi

echo "mpi: $n outputs as one process's, $fails failures"
[ "$fails" = 0 ]
