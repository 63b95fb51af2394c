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
# The main VM suite runs beside the host suite: its TCG guest keeps about one host core busy and the host
# suite (one pytest process) the other, so running them one after the other would leave a core idle for
# most of an hour. Its output is kept in a private folder and printed when it ends.
if [ "$VM" = 1 ]; then
    LOGS=$(mktemp -d)
    trap 'rm -rf "$LOGS"' EXIT
    echo "== VM suite (QEMU NVMe controller, real Linux nvme driver): started beside the host suite"
    (
        rc=0
        .venv/bin/python -m tests.vm.run --timeout 3600 > "$LOGS/vm.log" 2>&1 || rc=$?
        echo "$rc" > "$LOGS/vm.rc"
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
OTHER_RC=0
echo "== VM suite: hot-unplug (its own boot: the controller is gone afterwards)"
.venv/bin/python -m tests.vm.run --unplug || OTHER_RC=$?
echo "== VM suite: no poll queues (its own boot: the nvme module loaded with poll_queues=0)"
.venv/bin/python -m tests.vm.run --no-poll-queues || OTHER_RC=$?
echo "== VM suite: NVMe over Fabrics (its own boot: the Linux target over loop and tcp, native multipath)"
.venv/bin/python -m tests.vm.run --fabrics || OTHER_RC=$?

wait "$VM_PID" || true
echo "== VM suite (QEMU NVMe controller, real Linux nvme driver): its output"
cat "$LOGS/vm.log"
VM_RC=$(cat "$LOGS/vm.rc" 2>/dev/null || echo 1)
echo "== exit statuses: host suite $HOST_RC, VM suite $VM_RC, other VM boots $OTHER_RC"
if [ "$HOST_RC" != 0 ] || [ "$VM_RC" != 0 ] || [ "$OTHER_RC" != 0 ]; then
    exit 1
fi
