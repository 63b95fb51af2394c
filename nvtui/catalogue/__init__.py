"""The command catalogue: NVMe commands as data (`nvtui/commands.yaml` and user files), field values ->
`Command` and back.

- `model`: the runtime model (`CommandDef`, `FieldDef`, `Catalogue`) and the one encoder;
- `build`: runtime entries from validated file models;
- `loader`: reading, validating and caching files (the pydantic schema, `schema`, only to validate);
- `nvme_cli`: the equivalent nvme-cli command line.
"""

from __future__ import annotations

from nvtui.catalogue.loader import BUILTIN_CATALOGUE, check_file, load_catalogue
from nvtui.catalogue.model import DEVICE_NSID, Catalogue, CatalogueError, CommandDef, FieldDef
from nvtui.catalogue.nvme_cli import nvme_cli_line
from nvtui.locations import user_catalogue_dir

__all__ = [
    "BUILTIN_CATALOGUE",
    "DEVICE_NSID",
    "Catalogue",
    "CatalogueError",
    "CommandDef",
    "FieldDef",
    "check_file",
    "load_catalogue",
    "nvme_cli_line",
    "user_catalogue_dir",
]
