#!/usr/bin/env bash
# Installs what nvtui's tests need and runs them all: lint and types, the host suite, then the
# real-device suite inside a QEMU VM with QEMU's emulated NVMe controller (tests/vm/).
#   NVTUI_SKIP_VM=1   run the host suite only (never in CI: there the VM suite must run)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]'
# The Debian packages first: the host suite checks the VM harness's initramfs with cpio and busybox too.
if [ "${NVTUI_SKIP_VM:-}" != 1 ] || [ -n "${CI:-}" ]; then
    .venv/bin/python -m tests.vm.run --install-only
fi

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/mypy

VM=0
if [ "${NVTUI_SKIP_VM:-}" != 1 ] || [ -n "${CI:-}" ]; then
    VM=1
fi
# The VM suites run beside the host suite: a TCG guest keeps about one host core busy and the host suite
# (one pytest process) the other, so running them one after the other would leave a core idle for most of
# an hour. The main VM suite is split by file name into two boots: the first half, then the hot-unplug,
# no-poll-queues and fabrics boots, run in the background (output kept in a private folder, printed at
# the end); the host suite, then the second half, in the foreground.
vm_boot() {  # NAME ARGS...: one boot of the VM harness, its output and exit status kept under $LOGS
    local name=$1 rc=0
    shift
    echo "== VM suite: $name" >> "$LOGS/background.log"
    .venv/bin/python -m tests.vm.run "$@" >> "$LOGS/background.log" 2>&1 || rc=$?
    echo "$name $rc" >> "$LOGS/background.rc"
}
if [ "$VM" = 1 ]; then
    LOGS=$(mktemp -d)
    trap 'rm -rf "$LOGS"' EXIT
    FIRST=() SECOND=()
    for f in tests/vm/test_*.py; do
        if [[ "$(basename "$f")" < test_l ]]; then FIRST+=("$f"); else SECOND+=("$f"); fi
    done
    echo "== VM suites started in the background: the main suite's first half (${#FIRST[@]} files), then"
    echo "   hot-unplug, no poll queues and NVMe over Fabrics, each in a boot of its own"
    (
        vm_boot "main, first half (QEMU NVMe controller, real Linux nvme driver)" --timeout 3000 -- "${FIRST[@]}"
        vm_boot "hot-unplug (the controller is gone afterwards)" --unplug
        vm_boot "no poll queues (the nvme module loaded with poll_queues=0)" --no-poll-queues
        vm_boot "NVMe over Fabrics (the Linux target over loop and tcp, native multipath)" --fabrics
    ) &
    VM_PID=$!
fi

echo "== host suite"
# pytest exits 5 when it collects nothing: that is a failure here, as any other non-zero exit.
HOST_RC=0
.venv/bin/python -m pytest -q -p no:cacheprovider || HOST_RC=$?

if [ "$VM" = 0 ]; then
    echo "== VM suite skipped (NVTUI_SKIP_VM=1)"
    exit "$HOST_RC"
fi
echo "== VM suite: main, second half (${#SECOND[@]} files; QEMU NVMe controller, real Linux nvme driver)"
SECOND_RC=0
.venv/bin/python -m tests.vm.run --timeout 3000 -- "${SECOND[@]}" || SECOND_RC=$?

wait "$VM_PID" || true
cat "$LOGS/background.log"
echo "== exit statuses: host suite $HOST_RC; VM main, second half $SECOND_RC; in the background:"
cat "$LOGS/background.rc"
if [ "$HOST_RC" != 0 ] || [ "$SECOND_RC" != 0 ] || [ "$(wc -l < "$LOGS/background.rc")" != 4 ] \
    || grep -qv ' 0$' "$LOGS/background.rc"; then
    exit 1
fi
