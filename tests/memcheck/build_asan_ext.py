"""Build nvtui's cffi uring extension with -fsanitize=address,undefined into the folder named on the
command line; print the path of the built module. Same C sources and declarations as the real build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cffi import FFI  # type: ignore[import-untyped]

from nvtui.backend.uring import _build

out = Path(sys.argv[1]).resolve()
sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
ffibuilder = FFI()
ffibuilder.cdef(_build.CDEF)
ffibuilder.set_source(
    "nvtui.backend.uring._ring",
    '#include "ring_core.h"',
    sources=[os.path.join(_build.HERE, name) for name in ("ring_core.c", "engine.c")],
    include_dirs=[_build.HERE],
    extra_compile_args=["-O1", "-g", "-std=gnu11", "-Wall", *sanitize],
    extra_link_args=sanitize,
)
built = ffibuilder.compile(tmpdir=str(out), verbose=False)
print(built)
