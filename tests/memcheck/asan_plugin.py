"""pytest plugin for run_asan.sh: nvtui's uring extension is replaced by the ASan/UBSan build named in
NVTUI_ASAN_EXTENSION before anything imports it, and the run fails if the real one was loaded instead."""

from __future__ import annotations

import importlib.util
import os
import sys

NAME = "nvtui.backend.uring._ring"
path = os.environ["NVTUI_ASAN_EXTENSION"]
spec = importlib.util.spec_from_file_location(NAME, path)
assert spec is not None and spec.loader is not None, path
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules[NAME] = module
os.environ["NVTUI_UNDER_ASAN"] = "1"


def pytest_report_header() -> str:
    return f"uring extension under AddressSanitizer + UBSan: {path}"


def pytest_sessionfinish() -> None:
    loaded = sys.modules.get(NAME)
    assert loaded is module and loaded.__file__ == path, f"the tests ran against {loaded}, not {path}"
