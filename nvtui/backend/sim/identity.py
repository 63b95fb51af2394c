"""Who the simulated controller says it is: the constants of its Identify data, in one place."""

from __future__ import annotations

import hashlib

from nvtui import __version__
from nvtui.backend.sim.state import MAX_NSID

CONTROLLER_NAME = "sim0"
MODEL = "nvtui simulated NVMe controller"
FIRMWARE = f"SIM{__version__}"[:8]
VID = 0x1B36  # the PCI vendor ID QEMU's emulated devices use: a software controller, not a product
SSVID = 0x1AF4
IEEE_OUI = 0xACDE48  # the IEEE's example OUI (never assigned to a manufacturer)
CNTLID = 1
VERSION = 0x0002_0000  # NVMe 2.0
MPSMIN = 4096  # CAP.MPSMIN: 4 KiB memory pages
MDTS = 7  # maximum data transfer 2^7 pages = 512 KiB
MAX_TRANSFER = MPSMIN << MDTS
NN = MAX_NSID  # namespace identifiers 1..NN; Namespace Management allocates the lowest free one
ELPE = 63  # 64 error log entries (0-based)
AERL = 3  # 4 outstanding Asynchronous Event Requests (0-based)
ACL = 3  # 4 outstanding Aborts (0-based)
WCTEMP, CCTEMP = 343, 358  # Kelvin: 70 °C warning, 85 °C critical
EDSTT = 1  # minutes an extended device self-test takes
KAS = 10  # Keep Alive granularity, in 100 ms units
MAX_QUEUES = 64  # I/O submission and completion queues each
TOTAL_CAPACITY = 4 << 30  # TNVMCAP: the factory namespaces take 2 GiB, the rest is free to create
FIRMWARE_SLOTS = 3  # slot 1 read-only (the factory image), slots 2 and 3 take downloaded images
FWUG = 1  # Firmware Update Granularity: 4 KiB

# Power state descriptors (NVMe Base 2.0, Fig. 276): max power in centiwatts, entry/exit latency in µs,
# relative read/write throughput and latency, non-operational flag.
POWER_STATES = (
    {"mp": 900, "enlat": 0, "exlat": 0, "rrt": 0, "rrl": 0, "rwt": 0, "rwl": 0},
    {"mp": 650, "enlat": 50, "exlat": 50, "rrt": 1, "rrl": 1, "rwt": 1, "rwl": 1},
    {"mp": 400, "enlat": 500, "exlat": 500, "rrt": 2, "rrl": 2, "rwt": 2, "rwl": 2},
    {"mp": 5, "enlat": 5000, "exlat": 10000, "rrt": 3, "rrl": 3, "rwt": 3, "rwl": 3, "nops": True},
)
NPSS = len(POWER_STATES) - 1


def _digest(serial: str, what: str) -> bytes:
    return hashlib.sha256(f"{serial}/{what}".encode()).digest()


def eui64(serial: str, nsid: int) -> bytes:
    """IEEE EUI-64: the OUI (big-endian) then a 40-bit extension, stable for this controller's serial."""
    return IEEE_OUI.to_bytes(3, "big") + _digest(serial, f"eui64/{nsid}")[:5]


def nguid(serial: str, nsid: int) -> bytes:
    """NGUID (NVMe Base 2.0, 4.7.1): 64-bit vendor extension, OUI, 40-bit extension, big-endian."""
    d = _digest(serial, f"nguid/{nsid}")
    return d[:8] + IEEE_OUI.to_bytes(3, "big") + d[8:13]


def ns_uuid(serial: str, nsid: int) -> bytes:
    import uuid  # only when the controller answers Identify, not when discovery names it

    return uuid.uuid5(uuid.NAMESPACE_URL, f"nvtui-sim:{serial}:{nsid}").bytes


def subnqn(serial: str) -> str:
    import uuid

    return f"nqn.2014-08.org.nvmexpress:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'nvtui-sim:{serial}')}"
