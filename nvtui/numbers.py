"""How nvtui reads a number a person wrote: the same rule on the command line and in every file it reads.

A number is decimal (`10`, and `010` is ten: a leading zero is still decimal, never octal) or hexadecimal
with `0x` (`0x1f`, `0X1F`). Nothing else is a number: no octal (`0o17`), binary (`0b11`), sexagesimal
(`1:00`), underscores (`1_000`), exponents (`1e3`) or a leading `+`. A leading minus makes a number
negative, so that a field can say so (every field refuses it, as the command line does); `-0` is not a
number in a file (`NUMBER_PATTERN`), as the command line calls it negative.

A number is bounded before it is converted: NVMe values are at most 128 bits (39 decimal digits), so one
with more than `MAX_DIGITS` significant digits is refused by what it is (`NumberTooLong`), never handed to
`int()`, whose own limit (4,300 digits) ends in an internal error.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DIGITS", "NUMBER_PATTERN", "NumberTooLong", "parse_number"]

MAX_DIGITS = 40  # significant digits; 2**128 has 39 decimal digits, 32 hexadecimal ones

# re.ASCII: \d would also take other scripts' digits; [0-9] is spelled out anyway.
# What a file types as a number (nvtui.yamlio): a leading minus only before a value that is not zero.
NUMBER_PATTERN = r"(?:0[xX][0-9a-fA-F]+|[0-9]+|-0[xX]0*[1-9a-fA-F][0-9a-fA-F]*|-0*[1-9][0-9]*)"
_NUMBER_RE = re.compile(r"(?P<minus>-?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|(?P<dec>[0-9]+))", re.ASCII)


class NumberTooLong(ValueError):
    """A number with more digits than any value nvtui takes; `str()` says how many it has."""

    def __init__(self, digits: int) -> None:
        super().__init__(f"a number of {digits:,} digits is longer than any value nvtui takes")
        self.digits = digits


def parse_number(text: str) -> int | None:
    """The integer `text` spells under nvtui's rule (see the module), or None when it spells none.
    `NumberTooLong` when it has more than `MAX_DIGITS` significant digits (checked before converting)."""
    m = _NUMBER_RE.fullmatch(text)  # fullmatch: `$` would also take a trailing newline
    if m is None:
        return None
    digits, base = (m["hex"], 16) if m["hex"] is not None else (m["dec"], 10)
    significant = digits.lstrip("0")
    if len(significant) > MAX_DIGITS:
        raise NumberTooLong(len(significant))
    value = int(significant or "0", base)
    return -value if m["minus"] else value
