"""The simulated controller's firmware: its slots, the active image, the one activated at the next reset, and
the image being downloaded (NVMe Base 2.0, 5.12 Firmware Commit, 5.13 Firmware Image Download).

Slot 1 is read-only and holds the factory image (this nvtui's revision). A downloaded image is accepted by
Firmware Commit when its pieces cover it from offset 0 without a hole and it starts with `IMAGE_MAGIC` and
an 8-character printable ASCII revision (the simulator's image format; a real drive checks its own).
A piece at offset 0 starts a new image (the pieces before it are dropped); a failed commit keeps the
download, so a hole can still be filled. Downloaded pieces are controller memory: a reset (for the
simulator, a power cycle) discards them, as the spec requires, and activates the image committed for it.

The controller journals what a command changed: the pieces it downloaded (`new_pieces`), that it discarded
the download (`cleared`), and the slots and activation (`summary`) when `dirty` says a commit or a reset
changed them; restoring from the state file or the journal leaves nothing to journal."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from nvtui.backend.sim import identity
from nvtui.backend.sim.errors import SCT_COMMAND_SPECIFIC, CommandFailed, cdw_byte, invalid_field
from nvtui.backend.sim.state import Damaged, as_dict, as_int, as_list, need

SLOTS = identity.FIRMWARE_SLOTS
GRANULE = identity.FWUG * 4096  # FWUG is in 4 KiB units: every piece's offset and size are multiples
IMAGE_LIMIT = 256 << 10  # the largest image the simulated controller takes (its state file carries it)
IMAGE_MAGIC = b"NVTSIMFW"
HEADER = len(IMAGE_MAGIC) + 8  # the magic, then the revision

# Command Specific Status values of Firmware Commit and Firmware Image Download (NVMe Base 2.0, Fig. 103)
SC_INVALID_FIRMWARE_SLOT = 0x06
SC_INVALID_FIRMWARE_IMAGE = 0x07
SC_OVERLAPPING_RANGE = 0x14

CA_REPLACE, CA_REPLACE_AT_RESET, CA_ACTIVATE_AT_RESET, CA_ACTIVATE_NOW = 0, 1, 2, 3
CA_BOOT_PARTITION = (6, 7)


def image_revision(image: bytes) -> str | None:
    """The revision an image of the simulator's format carries, None when it is not one."""
    if len(image) < HEADER or not image.startswith(IMAGE_MAGIC):
        return None
    raw = image[len(IMAGE_MAGIC) : HEADER]
    if not all(0x20 <= b < 0x7F for b in raw) or not raw.strip():
        return None
    return raw.decode("ascii").rstrip()


def _revision(value: object, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 8 or not all(" " <= c <= "~" for c in value):
        raise Damaged(f"{where} is not a revision of 1 to 8 printable ASCII characters")
    return value


def make_image(revision: str, size: int = GRANULE) -> bytes:
    """An image the simulated controller accepts (for tests, examples and the README's recipe)."""
    head = IMAGE_MAGIC + revision.encode("ascii").ljust(8)[:8]
    return head.ljust(size, b"\0")


@dataclass
class Firmware:
    """Slots 2..SLOTS hold a revision or nothing; slot 1 always holds the factory image."""

    slots: dict[int, str] = field(default_factory=dict)  # writable slot -> revision
    active: int = 1
    next_reset: int | None = None  # the slot activated at the next reset
    replaced: str | None = None  # the revision still running after its slot was replaced, until the reset
    pieces: dict[int, bytes] = field(default_factory=dict)  # the download under way: offset -> data
    new_pieces: list[int] = field(default_factory=list)  # offsets downloaded by the command being run
    cleared: bool = False  # the command being run discarded the download
    dirty: bool = field(default=False, compare=False)  # the command being run changed the `summary`

    def revision(self, slot: int) -> str | None:
        return identity.FIRMWARE if slot == 1 else self.slots.get(slot)

    @property
    def running(self) -> str:
        return self.replaced or self.revision(self.active) or identity.FIRMWARE

    # --- the commands -----------------------------------------------------------------------------------

    def download(self, numd: int, offset_dw: int, data: bytes | None) -> None:
        offset, size = offset_dw * 4, numd * 4
        if offset % GRANULE:
            raise invalid_field(cdw_byte(11))  # OFST not a multiple of FWUG
        if size % GRANULE or data is None or len(data) < size:
            raise invalid_field(cdw_byte(10))  # NUMD not a multiple of FWUG, or no data for it
        if offset + size > IMAGE_LIMIT:
            raise invalid_field(cdw_byte(11))
        if offset == 0:  # a new image: what was downloaded before and not committed is dropped
            self.discard_download()
        for start, piece in self.pieces.items():
            if start < offset + size and offset < start + len(piece):
                raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_OVERLAPPING_RANGE, param=cdw_byte(11))
        self.pieces[offset] = bytes(data[:size])
        self.new_pieces.append(offset)

    def image(self) -> bytes | None:
        """The downloaded image when its pieces join up from offset 0, None otherwise."""
        out = bytearray()
        for start in sorted(self.pieces):
            if start != len(out):
                return None
            out += self.pieces[start]
        return bytes(out) if out else None

    def commit(self, fs: int, ca: int) -> None:
        if ca in CA_BOOT_PARTITION:
            raise invalid_field(cdw_byte(10))  # no boot partitions (CAP.BPS clear)
        if ca > CA_ACTIVATE_NOW:
            raise invalid_field(cdw_byte(10))
        if fs > SLOTS:
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FIRMWARE_SLOT, param=cdw_byte(10))
        if ca == CA_ACTIVATE_AT_RESET or (ca == CA_ACTIVATE_NOW and not self.pieces):
            # the image already in the slot: at the next reset, or (011b with nothing downloaded) at once
            if fs == 0 or self.revision(fs) is None:  # nothing to activate there
                raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FIRMWARE_SLOT, param=cdw_byte(10))
            if ca == CA_ACTIVATE_AT_RESET:
                self.next_reset = fs
            else:
                self.active, self.next_reset, self.replaced = fs, None, None
            self.dirty = True
            return
        # 000b, 001b, and 011b with an image downloaded: it replaces the slot's (then 011b activates it)
        if fs == 0:  # the controller picks: an empty writable slot, else the first one not running
            free = [s for s in range(2, SLOTS + 1) if s not in self.slots]
            fs = free[0] if free else next(s for s in range(2, SLOTS + 1) if s != self.active)
        if fs == 1:  # read-only
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FIRMWARE_SLOT, param=cdw_byte(10))
        image = self.image()
        revision = image_revision(image) if image is not None else None
        if revision is None:
            raise CommandFailed(SCT_COMMAND_SPECIFIC, SC_INVALID_FIRMWARE_IMAGE, param=cdw_byte(10))
        if fs == self.active and ca != CA_ACTIVATE_NOW and self.replaced is None:
            self.replaced = self.running  # the running image stays in memory until the reset
        self.slots[fs] = revision
        self.dirty = True
        self.discard_download()
        if ca == CA_REPLACE_AT_RESET:
            self.next_reset = fs
        elif ca == CA_ACTIVATE_NOW:
            self.active, self.next_reset, self.replaced = fs, None, None

    def discard_download(self) -> None:
        if self.pieces:
            self.pieces = {}
            self.cleared = True
        self.new_pieces = []

    def reset(self) -> None:
        """A reset: the download is discarded, the image committed for it becomes the running one."""
        self.discard_download()
        if self.next_reset is not None or self.replaced is not None:
            self.dirty = True
        if self.next_reset is not None:
            self.active, self.next_reset = self.next_reset, None
        self.replaced = None

    # --- the state file and the journal -----------------------------------------------------------------

    def summary(self) -> dict[str, object]:
        return {
            "slots": {str(s): r for s, r in sorted(self.slots.items())},
            "active": self.active,
            "next": self.next_reset,
            "running": self.replaced,
        }

    def to_json(self) -> dict[str, object]:
        return {**self.summary(), "download": self.encoded(sorted(self.pieces))}

    def encoded(self, offsets: list[int]) -> list[list[object]]:
        return [[o, base64.b64encode(self.pieces[o]).decode("ascii")] for o in offsets]

    def begin(self) -> None:
        self.new_pieces = []
        self.cleared = False
        self.dirty = False

    def restore_summary(self, value: object, where: str) -> None:
        state = as_dict(value, where)
        slots: dict[int, str] = {}
        for key, revision in as_dict(need(state, "slots", f"{where}."), f"{where}.slots").items():
            slot = int(key) if key.isdigit() else 0
            if not 2 <= slot <= SLOTS:
                raise Damaged(f"{where}.slots.{key[:10]} is not a writable slot (2..{SLOTS})")
            slots[slot] = _revision(revision, f"{where}.slots.{key}")
        active = as_int(need(state, "active", f"{where}."), f"{where}.active", 1, SLOTS)
        nxt = need(state, "next", f"{where}.")
        next_reset = None if nxt is None else as_int(nxt, f"{where}.next", 1, SLOTS)
        for name, chosen in (("active", active), ("next", next_reset)):
            if chosen is not None and chosen != 1 and chosen not in slots:
                raise Damaged(f"{where}.{name} is slot {chosen}, which holds no image")
        running = need(state, "running", f"{where}.")
        if running is not None:
            running = _revision(running, f"{where}.running")
        self.slots, self.active, self.next_reset, self.replaced = slots, active, next_reset, running
        self.dirty = False  # read from the state file or the journal: journaled already

    def add_pieces(self, value: object, where: str) -> None:
        for i, cell in enumerate(as_list(value, where, IMAGE_LIMIT // GRANULE)):
            pair = as_list(cell, f"{where}[{i}]")
            if len(pair) != 2 or not isinstance(pair[1], str):
                raise Damaged(f"{where}[{i}] is not [offset, base64 data]")
            offset = as_int(pair[0], f"{where}[{i}][0]", 0, IMAGE_LIMIT - GRANULE)
            try:
                data = base64.b64decode(pair[1], validate=True)
            except (binascii.Error, ValueError):
                raise Damaged(f"{where}[{i}][1] is not base64") from None
            end = offset + len(data)
            if offset % GRANULE or not data or len(data) % GRANULE or end > IMAGE_LIMIT:
                raise Damaged(f"{where}[{i}] is not whole {GRANULE}-byte granules within the image")
            if any(s < end and offset < s + len(p) for s, p in self.pieces.items()):
                raise Damaged(f"{where}[{i}] overlaps a piece already downloaded")
            self.pieces[offset] = data

    def restore(self, value: object, where: str) -> None:
        """A checkpoint's firmware, every value checked (`Damaged` names the first that is wrong)."""
        self.restore_summary(value, where)
        self.pieces = {}
        self.add_pieces(need(as_dict(value, where), "download", f"{where}."), f"{where}.download")
