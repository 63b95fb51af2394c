"""Devices: controllers, their namespaces and char/block devices (real and simulated), and the details of
the highlighted one: the catalogue commands it supports (its Commands Supported and Effects log, for the
namespace's own I/O command set), a zoned namespace's zone geometry, and `nvtui doctor`'s findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static, Tree
from textual.worker import get_current_worker

from nvtui.backend.discovery import path_line, transport_text, usable
from nvtui.device_choice import GONE
from nvtui.errors import NvtuiError
from nvtui.screens import messages
from nvtui.screens.base import SectionScreen, internal_error
from nvtui.widgets.findings import FindingsView

if TYPE_CHECKING:
    from nvtui.backend.base import ControllerInfo, NamespaceInfo
    from nvtui.doctor import Finding
    from nvtui.present import ZoneGeometry
    from nvtui.session import DeviceProfile, KvLimits

@dataclass(frozen=True)
class DeviceNode:
    """What a tree node stands for: a controller, or one of its namespaces."""

    controller: ControllerInfo
    namespace: NamespaceInfo | None = None

    @property
    def device(self) -> str:
        return self.namespace.name if self.namespace is not None else self.controller.name


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def uring_text(c: ControllerInfo) -> str:
    if c.simulated:
        return "not needed (simulated)"
    return "yes" if c.uring_cmd else "no: the ioctl backend is used"


Styles = Mapping[str, Style]
"""The theme's colours by role (`error`, `warning`, `success`, `accent`): the screen's component classes;
without them, text styles only."""


def _style(styles: Styles | None, role: str) -> Style:
    return styles.get(role, Style()) if styles is not None else Style()


def controller_text(c: ControllerInfo, styles: Styles | None = None) -> Text:
    t = Text()
    t.append(f"{c.name}", style="bold")
    t.append(f"  {c.model}\n")
    rows = [
        ("serial", c.serial),
        ("firmware", c.firmware),
        ("transport", transport_text(c)),
        ("address", "" if c.fabrics else c.address),  # a fabrics address is in the transport row
        ("state", c.state),
        ("subsystem", f"{c.subsysnqn} ({c.subsystem})" if c.subsysnqn and c.subsystem else c.subsysnqn),
        ("host NQN", c.hostnqn),
        ("char device", c.char_dev or "(simulated)"),
        ("uring_cmd", uring_text(c)),
        ("access", "read-write" if c.accessible else (c.access_error or "no access")),
        ("namespaces", ", ".join(ns.name for ns in c.namespaces) or "none"),
    ]
    for key, value in rows:
        if value:
            t.append(f"{key:>12} ", style="dim")
            red = (key == "access" and not c.accessible) or (key == "state" and value == GONE)
            t.append(f"{value}\n", style=_style(styles, "error") if red else "")
    return t


def namespace_text(c: ControllerInfo, ns: NamespaceInfo, styles: Styles | None = None) -> Text:
    t = Text()
    t.append(f"{ns.name}", style="bold")
    t.append(f"  namespace {ns.nsid} of {c.name} ({c.model})\n")
    fmt = f"{ns.lba_size} bytes" + (f" + {ns.metadata_size} metadata" if ns.metadata_size else "")
    if ns.command_set == "kv":  # no logical blocks: keys and values
        kind = [("capacity", f"{human_bytes(ns.size_bytes)} ({ns.size_bytes} bytes)"),
                ("command set", "Key Value (CSI 01h)")]  # fmt: skip
    else:
        kind = [
            ("capacity", f"{human_bytes(ns.size_bytes)} ({ns.size_bytes // max(ns.lba_size, 1)} blocks)"),
            ("LBA format", fmt),
            ("zoned", "yes (ZNS)" if ns.zoned else "no"),
        ]
    rows = [
        *kind,
        ("char device", ns.char_dev or "(simulated)"),
        ("block device", ns.block_dev or "-"),
        ("uring_cmd", uring_text(c)),
        ("access", "read-write" if ns.accessible else (ns.access_error or "no access")),
    ]
    for key, value in rows:
        t.append(f"{key:>12} ", style="dim")
        t.append(f"{value}\n", style=_style(styles, "error") if key == "access" and not ns.accessible else "")
    if ns.paths:
        t.append(f"{'paths':>12} ", style="dim")
        t.append(f"{len(ns.paths)} (native multipath)\n")
    for path in ns.paths:
        bad = path.state != "live" or path.ana_state not in ("optimized", "non-optimized")
        t.append(f"{'':>12} ", style="dim")
        t.append(f"{path_line(path)}\n", style=_style(styles, "warning") if bad else "")
    return t


class DevicesScreen(SectionScreen):
    SECTION = "devices"
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "devices--error",
        "devices--warning",
        "devices--success",
        "devices--accent",
    }
    DEFAULT_CSS = """
    DevicesScreen > .devices--error { color: $error; }
    DevicesScreen > .devices--warning { color: $warning; }
    DevicesScreen > .devices--success { color: $success; }
    DevicesScreen > .devices--accent { color: $accent; }
    DevicesScreen #device-tree {
        width: 30;
        height: 1fr;
        border-right: solid $primary-darken-2;
    }
    DevicesScreen #device-details {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
    }
    DevicesScreen #details-probe {
        margin: 1 0 0 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "use", "Use device", show=True),
        Binding("r", "rescan", "Rescan"),
        Binding("c", "compose", "Compose"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            tree: Tree[DeviceNode] = Tree("devices", id="device-tree")
            tree.show_root = False
            tree.guide_depth = 2
            yield tree
            with VerticalScroll(id="device-details"):
                yield Static("Looking for NVMe devices…", id="details-info")
                yield Static("", id="details-probe")
                yield FindingsView(id="details-doctor")

    def on_mount(self) -> None:
        self.watch(self.app, "controllers", self._controllers_changed)
        self.watch(self.app, "device", self._device_changed, init=False)
        self.watch(self.app, "catalogue", self._device_changed, init=False)
        self.query_one(Tree).focus()

    def _controllers_changed(self, controllers: tuple[ControllerInfo, ...]) -> None:
        tree: Tree[DeviceNode] = self.query_one(Tree)
        tree.clear()
        if not controllers:
            return
        current = self.nvapp.device
        styles = self._styles()
        for c in controllers:
            gone = c.state == GONE
            label = Text(c.name, style="bold strike" if gone else "bold")
            label.append(f"  {'sim' if c.simulated else c.transport}", style="dim")
            if gone:
                label.append(" gone", style=Style(bold=True) + styles["error"])
            cnode = tree.root.add(label, DeviceNode(c), expand=True)
            for ns in c.namespaces:
                nlabel = Text(ns.name, style="strike" if gone else "")
                nlabel.append(f"  {human_bytes(ns.size_bytes)}", style="dim")
                if ns.zoned:
                    nlabel.append(" zoned", style=styles["accent"])
                elif ns.command_set == "kv":
                    nlabel.append(" kv", style=styles["accent"])
                if gone:
                    nlabel.append(" gone", style=Style(bold=True) + styles["error"])
                elif ns.paths and not any(usable(p) for p in ns.paths):  # every path of the head is down
                    nlabel.append(" no path", style=Style(bold=True) + styles["error"])
                elif not ns.accessible:
                    nlabel.append(" !", style=Style(bold=True) + styles["error"])
                nnode = cnode.add(nlabel, DeviceNode(c, ns), expand=False)
                for kind, path in (("char", ns.char_dev), ("block", ns.block_dev)):
                    if path:
                        nnode.add_leaf(Text(f"{kind} {path}", style="dim"), DeviceNode(c, ns))
                nnode.allow_expand = bool(nnode.children)
        self.call_after_refresh(self._move_cursor, current)

    def _move_cursor(self, device: str) -> None:
        """Put the cursor on `device`'s node (the first node when it is not in the tree)."""
        tree: Tree[DeviceNode] = self.query_one(Tree)
        stack = list(tree.root.children)
        while stack:
            node = stack.pop(0)
            if node.data is not None and node.data.device == device:
                tree.move_cursor(node)
                self._show(node.data)  # what a rescan found: the cursor may not have moved to say it
                return
            stack.extend(node.children)
        tree.cursor_line = 0

    def _device_changed(self, _value: object) -> None:
        tree: Tree[DeviceNode] = self.query_one(Tree)
        node = tree.cursor_node
        if node is not None and node.data is not None:
            self._show(node.data)

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[DeviceNode]) -> None:
        if event.node.data is not None:
            self._show(event.node.data)

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[DeviceNode]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(messages.DeviceChosen(event.node.data.device))

    def _styles(self) -> Styles:
        roles = ("error", "warning", "success", "accent")
        return {role: self.get_component_rich_style(f"devices--{role}", partial=True) for role in roles}

    def _show(self, node: DeviceNode) -> None:
        styles = self._styles()
        info = (
            namespace_text(node.controller, node.namespace, styles)
            if node.namespace is not None
            else controller_text(node.controller, styles)
        )
        if node.device == self.nvapp.device:
            info.append("\ncommands go to this device", style=Style(bold=True) + styles["success"])
        else:
            info.append(f"\nEnter: send commands to {node.device}", style="dim")
        self.query_one("#details-info", Static).update(info)
        self.query_one("#details-probe", Static).update(Text("asking the device…", style="dim"))
        self.probe(node)
        if (view := self._findings_view()) is not None:
            view.findings = None
            self.check(node.device)

    @work(thread=True, exclusive=True, group="doctor")
    def check(self, device: str) -> None:
        """`nvtui doctor`'s findings for the device (blocking: sysfs reads and one Identify), in a thread."""
        from nvtui.doctor import device_findings

        try:
            findings = device_findings(device)
        except Exception as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._doctor_failed, internal_error(exc))
            return
        if not get_current_worker().is_cancelled:  # another device was highlighted meanwhile
            self.app.call_from_thread(self._doctor_done, findings)

    def _findings_view(self) -> FindingsView | None:
        """Where the doctor's answer goes; None once the screen's widgets are gone (the app is quitting while
        the check's thread was still reading sysfs): the answer is then dropped, as for a cancelled check."""
        views = self.query(FindingsView)
        return views.first() if views else None

    def _doctor_done(self, findings: list[Finding]) -> None:
        if (view := self._findings_view()) is not None:
            view.show(findings)

    def _doctor_failed(self, why: str) -> None:
        if (view := self._findings_view()) is not None:
            view.failure = why

    @work(exclusive=True, group="probe")
    async def probe(self, node: DeviceNode) -> None:
        """Ask the device (through its own probing session, so the history stays the user's) for its
        LBA formats and the commands it supports."""
        accessible = node.namespace.accessible if node.namespace is not None else node.controller.accessible
        target = self.query_one("#details-probe", Static)
        if not accessible:
            target.update(Text("cannot open the device to ask it more", style="dim"))
            return
        catalogue = self.nvapp.catalogue
        if catalogue is None:
            target.update(Text("the catalogue is still loading", style="dim"))
            return
        from nvtui.session import probe_device

        out = Text()
        warning = self._styles()["warning"]
        try:
            profile = await probe_device(catalogue, node.device, self.nvapp.backend_kind)
            if profile.kv is not None:
                out.append_text(kv_limits_text(profile.kv))
            elif node.namespace is not None:
                out.append_text(lba_formats_text(profile))
            if node.namespace is not None and node.namespace.zoned:
                from nvtui.zoned import probe_zone_geometry

                geometry, why = await probe_zone_geometry(catalogue, node.device, self.nvapp.backend_kind)
                out.append_text(zone_geometry_text(geometry, why))
            out.append_text(supported_text(profile))
            for problem in profile.problems:
                out.append(f"{problem}\n", style=warning)
        except NvtuiError as exc:
            out.append(f"could not ask the device: {exc}\n", style=warning)
        except Exception as exc:
            out.append(f"could not ask the device: {internal_error(exc)}\n", style=warning)
        target.update(out)

    def action_use(self) -> None:
        tree: Tree[DeviceNode] = self.query_one(Tree)
        node = tree.cursor_node
        if node is not None and node.data is not None:
            self.post_message(messages.DeviceChosen(node.data.device))

    def action_rescan(self) -> None:
        self.post_message(messages.RefreshDevices())

    def action_compose(self) -> None:
        self.app.switch_mode("compose")


def lba_formats_text(profile: DeviceProfile) -> Text:
    """The namespace's LBA formats, the one in use marked."""
    t = Text("LBA formats\n", style="bold")
    if not profile.lba_formats:
        t.append("  (Identify Namespace did not decode)\n", style="dim")
    for index, fmt in enumerate(profile.lba_formats):
        in_use = index == profile.lba_format_in_use
        mark = "*" if in_use else " "
        if fmt is None:
            t.append(f" {mark}{index:>2}  (an LBA data size below 512 bytes: not usable)\n", style="dim")
            continue
        size = f"{fmt.lba_size} bytes, {fmt.metadata_size} B metadata"
        t.append(f" {mark}{index:>2}  {size}  {fmt.performance}\n", style="bold" if in_use else "")
    return t


def kv_limits_text(kv: KvLimits) -> Text:
    """A Key Value namespace's size, use and KV formats (KV Identify Namespace): the limits of its keys and
    values, one per line (a line fits 80 columns beside the device tree)."""
    t = Text("Key Value namespace\n", style="bold")
    rows = [("size", f"{human_bytes(kv.size)} ({kv.size} bytes)"), ("in use", f"{human_bytes(kv.used)}")]
    for index, (kml, vml, mnk) in enumerate(kv.formats):
        rows += [
            (f"KV format {index}", f"keys up to {kml} bytes"),
            ("", f"values up to {human_bytes(vml)}"),
            ("", f"at most {mnk:,} keys" if mnk else "no limit on keys reported"),
        ]
    for key, value in rows:
        t.append(f"{key:>14} ", style="dim")
        t.append(f"{value}\n")
    return t


def supported_text(profile: DeviceProfile) -> Text:
    """Catalogue commands whose opcode the device lists as supported, by queue."""
    t = Text("Supported catalogue commands\n", style="bold") if profile.supported else Text()
    for queue, have in profile.supported.items():
        named = (
            f"{queue} ({profile.command_set} command set)" if queue == "io" and profile.command_set else queue
        )
        t.append(f" {named}: ", style="dim")
        t.append(", ".join(have) or "none")
        t.append("\n")
        missing = profile.unsupported.get(queue, ())
        if missing:
            t.append(f"  not supported: {', '.join(missing)}\n", style="dim")
    return t


def zone_geometry_text(geometry: ZoneGeometry | None, why: str | None) -> Text:
    """Zone size and capacity, number of zones, and the open and active limits of a zoned namespace."""
    t = Text("Zones\n", style="bold")
    if geometry is None:
        t.append(f"  {why or 'no zone geometry'}\n", style="dim")
        return t
    block = geometry.block_size
    capacity = (
        f"{geometry.zone_capacity} blocks ({human_bytes(geometry.zone_capacity * block)})"
        if geometry.zone_capacity is not None
        else "not reported"
    )
    rows = [
        ("zone size", f"{geometry.zone_size} blocks ({human_bytes(geometry.zone_size * block)})"),
        ("zone capacity", capacity),
        ("zones", str(geometry.zones)),
        ("max open", geometry.max_open),
        ("max active", geometry.max_active),
    ]
    for key, value in rows:
        t.append(f"{key:>14} ", style="dim")
        t.append(f"{value}\n")
    return t
