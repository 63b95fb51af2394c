"""Headless runs (the pilot tests and their SVG snapshots) draw each input's cursor steadily: a blinking
cursor makes a picture depend on the moment it is taken. A person at a terminal still sees it blink."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.widgets import Input


def steady_cursors(root: DOMNode) -> None:
    """Stop the cursor blinking in every input under `root`, when the app runs headless."""
    if not root.app.is_headless:
        return
    for field_input in root.query(Input):
        field_input.cursor_blink = False
