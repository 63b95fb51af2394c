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

echo "== host suite"
# pytest exits 5 when it collects nothing: that is a failure here, as any other non-zero exit.
.venv/bin/python -m pytest -q -p no:cacheprovider

if [ "${NVTUI_SKIP_VM:-}" = 1 ] && [ -z "${CI:-}" ]; then
    echo "== VM suite skipped (NVTUI_SKIP_VM=1)"
    exit 0
fi
echo "== VM suite (QEMU NVMe controller, real Linux nvme driver)"
.venv/bin/python -m tests.vm.run
echo "== VM suite: hot-unplug (its own boot: the controller is gone afterwards)"
.venv/bin/python -m tests.vm.run --unplug
echo "== VM suite: no poll queues (its own boot: the nvme module loaded with poll_queues=0)"
.venv/bin/python -m tests.vm.run --no-poll-queues
echo "== VM suite: NVMe over Fabrics (its own boot: the Linux target over loop and tcp, native multipath)"
.venv/bin/python -m tests.vm.run --fabrics
