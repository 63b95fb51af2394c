"""The errors nvtui reports to a person, each mapped to the CLI's exit code (DESIGN.md, "Exit codes")."""

from __future__ import annotations


def one_line(text: str) -> str:
    """`text` as one printable line: a newline or control character from a file, a YAML key or an
    argument is shown escaped (`\\n`), so an error never spills over several lines."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode() for c in text
    )


class NvtuiError(Exception):
    """An error with a one-line message meant for the user; never shown as a traceback."""

    exit_code = 2


class UsageError(NvtuiError):
    """Bad usage or input: a field out of range, a bad catalogue file, an unknown command (exit 2)."""

    exit_code = 2


class DeviceError(NvtuiError):
    """The device, a permission or the kernel failed the request (exit 3)."""

    exit_code = 3


class KernelCancelled(DeviceError):
    """The kernel ended a passthrough command without the controller's completion (EINTR from the nvme
    driver: it sets NVME_REQ_CANCELLED when its own timeout for the command expired, or when a controller
    reset or removal aborted it). Never retried: the controller may have acted on it."""


class CommandTimeout(DeviceError):
    """A command did not complete within its timeout (exit 3, as any device error): nvtui stopped waiting."""
