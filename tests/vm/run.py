"""Run the project's VM test suite (or any command) in the nvtui test VM.

    python -m tests.vm.run [--kernel 6.12|6.1|PACKAGE] [--timeout S] [--allow-skips] [-- PYTEST ARGS]
    python -m tests.vm.run --unplug                # only the hot-unplug tests, in a boot of their own
    python -m tests.vm.run --fabrics               # only the NVMe over Fabrics tests, in a boot of their own
    python -m tests.vm.run --shell 'CMD ...'       # any command, e.g. a benchmark
    python -m tests.vm.run --install-only          # install the Debian packages the harness needs

The exit status is the guest command's (pytest's).  Inside the guest, pytest runs through
``--guest-pytest``, which fails the run when a test is skipped or none ran (unless --allow-skips).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from tests.vm import vm

#: pytest plugins the VM suite does not use, whose imports cost ~10-20 s under TCG (TUI snapshots,
#: hypothesis' option handling; hypothesis itself still works in a VM test without its plugin).
SLOW_PLUGINS: tuple[str, ...] = ("textual-snapshot", "syrupy", "hypothesispytest")

EXIT_SKIPPED = 3  # the guest suite skipped tests (the VM suite must run, never skip)
EXIT_TIMEOUT = 124
EXIT_VM_ERROR = 125


class Outcomes:
    """A pytest plugin counting what the guest session collected, ran and skipped."""

    def __init__(self) -> None:
        self.collected = 0
        self.ran = 0
        self.skipped: list[str] = []

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = len(session.items)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)
        elif report.when == "call":
            self.ran += 1


def judge(rc: int, outcomes: Outcomes, allow_skips: bool) -> tuple[int, str | None]:
    """The guest suite's exit status after the no-skip rule, and the reason when it was changed."""
    if rc == 0 and (outcomes.collected == 0 or outcomes.ran == 0):
        return 5, "no VM test ran"
    if outcomes.skipped and not allow_skips:
        names = ", ".join(outcomes.skipped[:20])
        msg = (
            f"{len(outcomes.skipped)} VM test(s) skipped: {names} (the VM suite must not skip; --allow-skips)"
        )
        return (EXIT_SKIPPED if rc == 0 else rc), msg
    return rc, None


def guest_pytest(args: Sequence[str], allow_skips: bool) -> int:
    """Inside the guest: run pytest with *args* and apply the no-skip rule."""
    import pytest

    outcomes = Outcomes()
    rc = int(pytest.main(list(args), plugins=[outcomes]))
    rc, why = judge(rc, outcomes, allow_skips)
    if why:
        print(f"nvtui-vm: FAILED: {why}", flush=True)
    return rc


def pytest_argv(pytest_args: Sequence[str], allow_skips: bool, all_plugins: bool = False) -> list[str]:
    """The guest command line for the VM suite: the venv's real interpreter, -m vm, tests/vm."""
    argv = [vm.real_python(), "-m", "tests.vm.run", "--guest-pytest"]
    if allow_skips:
        argv.append("--allow-skips")
    argv += ["--", "-m", "vm", "-p", "no:cacheprovider"]
    if not all_plugins:
        for plugin in SLOW_PLUGINS:
            argv += ["-p", f"no:{plugin}"]
    if not any(a.startswith("tests") and not a.startswith("-") for a in pytest_args):
        argv.append("tests/vm")
    return argv + list(pytest_args)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.vm.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", help="6.12, 6.1 or a linux-image package (default: newest 6.12, else 6.1)")
    p.add_argument("--timeout", type=float, default=1800, help="wall-clock limit of the VM, seconds")
    p.add_argument("--install-only", action="store_true", help="install the host packages and stop")
    p.add_argument("--prepare-only", action="store_true", help="also download/prepare the kernel, then stop")
    p.add_argument("--allow-skips", action="store_true", help="do not fail when VM tests are skipped")
    p.add_argument("--all-plugins", action="store_true", help=f"keep {', '.join(SLOW_PLUGINS)} loaded")
    p.add_argument("--shell", metavar="CMD", help="run CMD (through sh -c) in the VM instead of pytest")
    p.add_argument(
        "--unplug",
        action="store_true",
        help="run only the tests marked unplug (they hot-unplug the NVMe controller), in a boot of their own",
    )
    p.add_argument(
        "--no-poll-queues",
        action="store_true",
        help="run only the tests marked nopoll, in a boot whose nvme module has no poll queues",
    )
    p.add_argument(
        "--fabrics",
        action="store_true",
        help="run only the tests marked fabrics (the Linux NVMe target), in a boot of their own",
    )
    p.add_argument("--guest-pytest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    ns = p.parse_args(argv)

    if ns.guest_pytest:
        return guest_pytest(ns.pytest_args, ns.allow_skips)

    try:
        if os.geteuid() == 0:
            vm.ensure_host_packages()
        else:
            missing = vm.missing_host_packages()
            if missing:
                vm.log(f"missing packages (run as root to install): {' '.join(missing)}")
                return EXIT_VM_ERROR
        if ns.install_only:
            return 0
        kernel = vm.prepare_kernel(ns.kernel)
        vm.log(f"kernel {kernel.release} ({kernel.package.name} {kernel.package.version})")
        if ns.prepare_only:
            return 0
        command = (
            ["/bin/sh", "-c", ns.shell]
            if ns.shell
            else pytest_argv(ns.pytest_args, ns.allow_skips, ns.all_plugins)
        )
        vm.log(f"running in the VM: {shlex.join(command)}")
        env = {"NVTUI_VM_UNPLUG": "1"} if ns.unplug else {}
        params = None
        if ns.no_poll_queues:
            env, params = {"NVTUI_VM_NOPOLL": "1"}, "poll_queues=0"
        if ns.fabrics:
            env = {**env, "NVTUI_VM_FABRICS": "1"}
        result = vm.run_vm(
            command, kernel=ns.kernel, timeout=ns.timeout, cwd=str(vm.REPO_ROOT), env=env, nvme_params=params
        )
    except vm.VMTimeout as e:
        vm.log(f"TIMEOUT: {e}")
        return EXIT_TIMEOUT
    except vm.VMError as e:
        vm.log(f"ERROR: {e}")
        return EXIT_VM_ERROR
    boot = f"{result.boot_seconds:.1f}s" if result.boot_seconds is not None else "?"
    vm.log(
        f"exit status {result.returncode}; guest boot to command {boot}, total {result.total_seconds:.1f}s"
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
