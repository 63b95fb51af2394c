"""The control for run_asan.sh: an out-of-bounds write through the ASan-built extension must be caught,
or the sanitizer is not live and a clean run would mean nothing. Reaps 8 NOP completions into room for 1."""

from __future__ import annotations

import asan_plugin  # noqa: F401  (loads the ASan build of the extension)

from nvtui.backend.uring import Ring

ring = Ring(8)
lib, ffi = ring.lib, ring.ffi
for ud in range(8):
    ring.prep_nop(ud)
ring.submit(min_complete=8)
too_small = ffi.new("struct nvt_completion[]", 1)
lib.nvt_reap(ring._r, too_small, 8)  # writes 8 entries into room for 1
print("asan_control: the overflow went unnoticed")
