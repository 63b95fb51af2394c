"""Discovery at host scale: `nvtui list`'s scan over a generated sysfs tree of many controllers with many
namespaces each (32 x 128 by default: 4,096 namespaces), against the bare cost of reading the same tree.

    python -m benchmarks.discovery_scale [--controllers 32] [--namespaces 128] [--repeat 5] [--json OUT]

The tree is built as the kernel lays it out (the discovery tests' fake sysfs and /dev, with the kernel's
symlinks), in a temporary folder on the host. Two things are timed, interleaved run by run so load on the
machine hits both alike:
- `list_controllers` over that tree (what `nvtui list` and the Devices screen call), the target: < 1 s;
- the peer: a plain walk that opens and reads every file of the tree and stats every node in /dev, the
  floor any scan of the same facts pays; the ratio says how much nvtui adds to it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import median_spread

TARGET_S = 1.0


def build_tree(root: Path, controllers: int, namespaces: int) -> tuple[Path, Path]:
    """A fake sysfs and /dev under `root`: `controllers` PCIe controllers, each with `namespaces` private
    namespaces (nvmeXnY and ngXnY). Returns (sysfs, dev)."""
    from tests.test_discovery import FakeNamespace, FakeSystem

    system = FakeSystem(root)
    for c in range(controllers):
        bus = f"devices/pci0000:00/0000:00:{c // 8 + 4:02x}.{c % 8}"
        rel = system.controller(c, bus=bus)
        for n in range(1, namespaces + 1):
            system.namespace(rel, c, FakeNamespace(instance=n, nsid=n, metadata_bytes=0))
    return system.sysfs, system.dev


def read_everything(sysfs: Path, dev: Path) -> int:
    """The peer: every regular file under sysfs opened and read, every /dev node stat'ed. Returns bytes."""
    total = 0
    for folder, _dirs, files in os.walk(sysfs, followlinks=False):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                total += len(f.read())
    for entry in os.scandir(dev):
        entry.stat()
    return total


def measure(controllers: int, namespaces: int, repeat: int) -> dict[str, Any]:
    from nvtui.backend.discovery import list_controllers

    with tempfile.TemporaryDirectory(prefix="nvtui-discovery-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        sysfs, dev = build_tree(root, controllers, namespaces)
        built_s = time.perf_counter() - started
        proc = root / "proc"  # no io_uring_disabled: uring_cmd is taken as available
        nvtui_s: list[float] = []
        peer_s: list[float] = []
        found = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            listed = list_controllers(sysfs=sysfs, dev=dev, proc=proc, include_sim=False)
            nvtui_s.append(time.perf_counter() - t0)
            found = sum(len(c.namespaces) for c in listed)
            t0 = time.perf_counter()
            read_everything(sysfs, dev)
            peer_s.append(time.perf_counter() - t0)
    if found != controllers * namespaces:
        raise RuntimeError(f"listed {found} namespaces, built {controllers * namespaces}")
    return {
        "controllers": controllers,
        "namespaces_each": namespaces,
        "namespaces": found,
        "build_s": built_s,
        "nvtui_list_s": nvtui_s,
        "peer_read_all_s": peer_s,
    }


def summary(doc: dict[str, Any]) -> list[str]:
    ours_m, peer_m = median_spread(doc["nvtui_list_s"]), median_spread(doc["peer_read_all_s"])
    ours, ours_spread = ours_m["median"], ours_m["spread"] / 2
    peer, peer_spread = peer_m["median"], peer_m["spread"] / 2
    met = "met" if ours < TARGET_S else "NOT met"
    return [
        f"{doc['controllers']} controllers x {doc['namespaces_each']} namespaces ({doc['namespaces']:,})",
        f"  list_controllers  {ours:.3f} s ± {ours_spread:.0%}   target < {TARGET_S:g} s: {met}",
        f"  read every file   {peer:.3f} s ± {peer_spread:.0%}   (the peer: the floor of any scan)",
        f"  ratio nvtui / peer {ours / peer:.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.discovery_scale", description=__doc__)
    parser.add_argument("--controllers", type=int, default=32)
    parser.add_argument("--namespaces", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    doc = measure(args.controllers, args.namespaces, args.repeat)
    print("\n".join(summary(doc)))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
