"""nvme-cli lines in and out.

- `parse_nvme_cli(line, catalogue)`: an nvme-cli 2.x line (or nvme-cli 3.0's regrouped spelling) -> the
  `ImportedCommand` it means: device, catalogue command id, field values, data options; nothing sent.
- `nvtui.nvmecli.session.prepare_imported(session, imported)`: that command prepared, as `Session.prepare`.
- `idiomatic_line(...)`: a command nvtui sent -> the nvme-cli line with nvme-cli's own verb.
- `fio_job(...)`: a load run -> a fio job file (io_uring_cmd) that reproduces it.

The verbs, their options and where each goes are data: `nvtui.nvmecli.table`.
"""

from __future__ import annotations

from nvtui.nvmecli.export import idiomatic_line, nvme_cli_lines
from nvtui.nvmecli.parse import DataOptions, Display, ImportedCommand, parse_nvme_cli

__all__ = ["DataOptions", "Display", "ImportedCommand", "idiomatic_line", "nvme_cli_lines", "parse_nvme_cli"]
