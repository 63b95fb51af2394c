"""Features the simulated controller supports, with current, default and saved values (NVMe Base 2.0, 5.27.1).

A value is keyed by its feature identifier, plus the namespace for namespace-specific features and the
sensor and threshold type for Temperature Threshold. Saved values persist across power cycles; at power-on
the current value of every feature is its saved value (or its default, when never saved).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvtui.backend.sim import identity

# Supported Capabilities (Get Features SEL 11b): bit 0 saveable, bit 1 namespace specific, bit 2 changeable.
CAP_SAVEABLE, CAP_NS_SPECIFIC, CAP_CHANGEABLE = 0x1, 0x2, 0x4

FID_ARBITRATION = 0x01
FID_POWER_MANAGEMENT = 0x02
FID_TEMPERATURE_THRESHOLD = 0x04
FID_ERROR_RECOVERY = 0x05
FID_VOLATILE_WRITE_CACHE = 0x06
FID_NUMBER_OF_QUEUES = 0x07
FID_INTERRUPT_COALESCING = 0x08
FID_ASYNC_EVENT_CONFIG = 0x0B
FID_TIMESTAMP = 0x0E
FID_KEEP_ALIVE_TIMER = 0x0F
FID_HOST_IDENTIFIER = 0x81  # its value is the controller's host identifier (hostid.py), not kept here
FID_RESERVATION_NOTIFICATION_MASK = 0x82
FID_RESERVATION_PERSISTENCE = 0x83  # its value is the namespace's PTPL state (reservations.py), not kept here

# Asynchronous Event Configuration bits this controller can raise: SMART critical warnings 7:0,
# Namespace Attribute Notices 8, Zone Descriptor Changed Notices 27 (ZNS 1.1, Fig. 8).
AEC_SUPPORTED = 0xFF | 1 << 8 | 1 << 27
# The current value after power-on: what the Linux driver enables at probe (nvme_enable_aen, OAES notices).
AEC_AT_POWER_ON = 1 << 8 | 1 << 27


@dataclass(frozen=True)
class Feature:
    fid: int
    name: str
    default: int
    mask: int  # the CDW11 bits the feature keeps; the rest are reserved
    saveable: bool = True
    ns_specific: bool = False

    @property
    def capabilities(self) -> int:
        return (
            CAP_CHANGEABLE
            | (CAP_SAVEABLE if self.saveable else 0)
            | (CAP_NS_SPECIFIC if self.ns_specific else 0)
        )


_QUEUES = (identity.MAX_QUEUES - 1) | (identity.MAX_QUEUES - 1) << 16  # NSQA / NCQA, 0-based

FEATURES: dict[int, Feature] = {f.fid: f for f in (
    Feature(FID_ARBITRATION, "arbitration", 0x0000_0003, 0xFFFF_FF07),
    Feature(FID_POWER_MANAGEMENT, "power-management", 0, 0xFF),
    Feature(FID_TEMPERATURE_THRESHOLD, "temperature-threshold", identity.WCTEMP, 0xFFFF),
    Feature(FID_ERROR_RECOVERY, "error-recovery", 0, 0x1_FFFF, ns_specific=True),
    Feature(FID_VOLATILE_WRITE_CACHE, "volatile-write-cache", 1, 0x1),
    Feature(FID_NUMBER_OF_QUEUES, "number-of-queues", _QUEUES, 0xFFFF_FFFF, saveable=False),
    Feature(FID_INTERRUPT_COALESCING, "interrupt-coalescing", 0, 0xFFFF),
    Feature(FID_ASYNC_EVENT_CONFIG, "async-event-config", 0, AEC_SUPPORTED),
    Feature(FID_TIMESTAMP, "timestamp", 0, 0, saveable=False),
    Feature(FID_KEEP_ALIVE_TIMER, "keep-alive-timer", 0, 0xFFFF_FFFF, saveable=False),
    # EXHID (bit 0) and the identifier in the data buffer: kept through power cycles (hostid.py)
    Feature(FID_HOST_IDENTIFIER, "host-identifier", 0, 0x1),
    # REGPRE, RESREL, RESPRE (bits 3:1): kept per namespace; with one host there is nothing to mask
    Feature(FID_RESERVATION_NOTIFICATION_MASK, "reservation-notification-mask", 0, 0xE, ns_specific=True),
    # PTPL (bit 0): persistent by nature, so saving it (SV) and the saved value are the same state
    Feature(FID_RESERVATION_PERSISTENCE, "reservation-persistence", 0, 0x1, ns_specific=True),
)}  # fmt: skip


def key(fid: int, nsid: int = 0, sensor: int = 0, threshold_type: int = 0) -> str:
    if fid == FID_TEMPERATURE_THRESHOLD:
        return f"{fid}/{sensor}/{threshold_type}"
    return f"{fid}/{nsid}" if FEATURES[fid].ns_specific else str(fid)


def default_value(k: str) -> int:
    parts = [int(p) for p in k.split("/")]
    if parts[0] == FID_TEMPERATURE_THRESHOLD:
        return identity.WCTEMP if parts[2] == 0 else 0  # over: WCTEMP; under: 0 K (never)
    return FEATURES[parts[0]].default


class FeatureStore:
    def __init__(self) -> None:
        self.saved: dict[str, int] = {}
        self.current: dict[str, int] = {}
        self.power_on()

    def power_on(self) -> None:
        self.current = dict(self.saved)
        if key(FID_ASYNC_EVENT_CONFIG) not in self.saved:
            self.current[key(FID_ASYNC_EVENT_CONFIG)] = AEC_AT_POWER_ON

    def get(self, k: str, sel: int) -> int:
        if sel == 0:
            return self.current.get(k, default_value(k))
        if sel == 2:
            return self.saved.get(k, default_value(k))
        return default_value(k)

    def current_value(self, fid: int, nsid: int = 0) -> int:
        return self.get(key(fid, nsid), 0)

    def set(self, k: str, value: int, save: bool) -> None:
        self.current[k] = value
        if save:
            self.saved[k] = value

    def saved_json(self) -> dict[str, int]:
        return dict(self.saved)

    def load(self, saved: object) -> None:
        if not isinstance(saved, dict):
            raise ValueError("saved features are not a mapping")
        self.saved = {}
        for k, v in saved.items():
            fid = int(str(k).split("/")[0])
            if fid not in FEATURES:
                raise ValueError(f"saved feature {k!r} is not supported")
            self.saved[str(k)] = int(v)
        self.power_on()
