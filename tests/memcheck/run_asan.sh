#!/usr/bin/env bash
# The uring extension's C code (ring_core.c, engine.c) under AddressSanitizer and UBSan, two ways:
#  1. ring_stress.c, a C harness linked with the sources: 1,000,000 NOPs through a CQ that overflows,
#     out-of-order pipe reads, a ring torn down with reads in flight, socket uring_cmds, the load engine
#     (plain and fixed buffers, bad parameters);
#  2. the cffi extension itself rebuilt with the sanitizers, preloaded into Python, under the host
#     suite's ring tests (tests/test_uring_host.py, tests/test_memory_safety.py: buffers dropped in
#     flight, rings closed under reads, cancellations, the engine).
# Any sanitizer report fails the run (halt_on_error, -fno-sanitize-recover). Needs gcc with libasan.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
OUT=$(mktemp -d /tmp/nvtui-asan.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
U=nvtui/backend/uring
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

echo "== C harness under ASan + UBSan"
gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror "${SAN[@]}" -I"$U" \
    "$U/ring_core.c" "$U/engine.c" tests/memcheck/ring_stress.c -o "$OUT/ring_stress"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$OUT/ring_stress" "${NVTUI_ASAN_NOPS:-1000000}"

echo "== the Python extension under ASan + UBSan"
EXT=$("$PY" tests/memcheck/build_asan_ext.py "$OUT/ext" | tail -1)
PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# Python's own allocations are not instrumented and it keeps memory to the end: leaks are not checked here.
# Deselected: a timing bound (slices per stop) that the sanitizers' slowdown breaks, not a memory check.
LD_PRELOAD="$PRELOAD" NVTUI_ASAN_EXTENSION="$EXT" PYTHONPATH=tests/memcheck \
    ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$PY" -m pytest -q -p no:cacheprovider -p asan_plugin tests/test_uring_host.py tests/test_memory_safety.py \
    --deselect tests/test_uring_host.py::test_engine_slices_add_up_to_the_run_and_a_stop_ends_it_within_a_slice
echo "== the control: an overflow through the ASan build must be reported"
if LD_PRELOAD="$PRELOAD" NVTUI_ASAN_EXTENSION="$EXT" PYTHONPATH=tests/memcheck ASAN_OPTIONS=detect_leaks=0 \
    "$PY" tests/memcheck/asan_control.py >"$OUT/control.log" 2>&1 || ! grep -q "heap-buffer-overflow" "$OUT/control.log"; then
    cat "$OUT/control.log"
    echo "run_asan: the sanitizer did not catch the planted overflow: its clean verdict above means nothing" >&2
    exit 1
fi
echo "planted overflow caught: $(grep -m1 -o 'heap-buffer-overflow.*' "$OUT/control.log" | cut -c1-60)"
echo "run_asan: no sanitizer findings"
