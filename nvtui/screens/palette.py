"""Command palette (Ctrl+P) providers: catalogue commands, devices and command scripts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from nvtui.screens import messages

if TYPE_CHECKING:
    from nvtui.screens.host import Host

Entry = tuple[str, str, Callable[[], object]]  # (text shown, help, what choosing it does)


class _ListProvider(Provider):
    """A provider over a list of (text, help, action), fuzzy-matched on the text."""

    @property
    def nvapp(self) -> Host:
        from nvtui.screens.host import host

        return host(self.app)

    def entries(self) -> list[Entry]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for text, help_text, action in self.entries():
            yield DiscoveryHit(text, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, action in self.entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), action, text=text, help=help_text)


class CatalogueCommands(_ListProvider):
    """Catalogue commands, found by the Compose filter's own search (`nvtui.catalogue.search`): ids, names,
    aliases, help and value names, so `smart` offers Get Log Page with lid=smart, best match first."""

    def entries(self) -> list[Entry]:
        return self._found("")

    def _found(self, query: str) -> list[Entry]:
        from nvtui.catalogue.search import search

        catalogue = self.nvapp.catalogue
        if catalogue is None:
            return []
        post = self.app.post_message
        return [
            (
                f"Compose {m.key}",
                f"{m.defn.name} ({m.defn.set}, opcode {m.defn.opcode:#04x})"
                f"{' · destructive' if m.defn.destructive else ''}",
                partial(post, messages.OpenCommand(m.defn.id, dict(m.assignments))),
            )
            for m in search(catalogue, query)
        ]

    async def search(self, query: str) -> Hits:
        found = self._found(query.removeprefix("Compose ").removeprefix("compose "))
        for index, (text, help_text, action) in enumerate(found):
            score = 1.0 - index / (len(found) + 1)  # the search's order, best first
            yield Hit(score, text, action, text=text, help=help_text)


class DeviceCommands(_ListProvider):
    def entries(self) -> list[Entry]:
        post = self.app.post_message
        out: list[Entry] = []
        for c in self.nvapp.controllers:
            out.append(
                (
                    f"Use device {c.name}",
                    f"controller: {c.model}",
                    partial(post, messages.DeviceChosen(c.name)),
                )
            )
            for ns in c.namespaces:
                kind = "zoned namespace" if ns.zoned else "namespace"
                out.append(
                    (
                        f"Use device {ns.name}",
                        f"{kind} {ns.nsid} of {c.name}",
                        partial(post, messages.DeviceChosen(ns.name)),
                    )
                )
        return out


class ScriptCommands(_ListProvider):
    async def startup(self) -> None:
        from nvtui.screens.scripts import find_scripts

        self.scripts: list[Path] = await asyncio.to_thread(find_scripts)

    def entries(self) -> list[Entry]:
        post = self.app.post_message
        return [
            (f"Open script {p.name}", str(p), partial(post, messages.OpenScript(p))) for p in self.scripts
        ]
