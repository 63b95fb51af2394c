"""Catalogue completeness (issue 11): NVM Cancel and the NVMe 2.1 admin opcodes, each at its spec's bits, with
its data direction and guard; the transport restriction (`refused_on`) that keeps Fabrics and the exported
NVM resource commands off a PCIe controller; and the simulator answering each one it lacks with Invalid
Command Opcode, as a controller that lacks it does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvtui.backend.discovery import transport_of
from nvtui.catalogue import Catalogue, CommandDef, check_file, load_catalogue
from nvtui.errors import UsageError
from nvtui.nvme.command import DataDirection
from nvtui.session import Session

W, R, N, B = (DataDirection.HOST_TO_CONTROLLER, DataDirection.CONTROLLER_TO_HOST, DataDirection.NONE,
              DataDirection.BIDIRECTIONAL)  # fmt: skip
# id: (queue, opcode, set, section of NVMe Base 2.1, direction, destructive)
NEW = {
    "cancel": ("io", 0x18, "nvm", "7.1", N, True),
    "discovery-information-management": ("admin", 0x21, "admin", "5.3.3", W, True),
    "fabric-zoning-receive": ("admin", 0x22, "admin", "5.3.5", R, False),
    "fabric-zoning-lookup": ("admin", 0x25, "admin", "5.3.4", W, False),
    "clear-exported-nvm-resource-configuration": ("admin", 0x28, "admin", "5.3.1", N, True),
    "fabric-zoning-send": ("admin", 0x29, "admin", "5.3.6", W, True),
    "create-exported-nvm-subsystem": ("admin", 0x2A, "admin", "5.3.2", R, True),
    "manage-exported-nvm-subsystem": ("admin", 0x2D, "admin", "5.3.8", W, True),
    "manage-exported-namespace": ("admin", 0x31, "admin", "5.3.7", W, True),
    "manage-exported-port": ("admin", 0x35, "admin", "5.3.9", W, True),
    "send-discovery-log-page": ("admin", 0x39, "admin", "5.3.10", W, True),
    "track-send": ("admin", 0x3D, "admin", "5.1.27", W, True),
    "track-receive": ("admin", 0x3E, "admin", "5.1.26", R, False),
    "migration-send": ("admin", 0x41, "admin", "5.1.17", W, True),
    "migration-receive": ("admin", 0x42, "admin", "5.1.16", R, False),
    "controller-data-queue": ("admin", 0x45, "admin", "5.1.4", W, True),
    "fabrics": ("admin", 0x7F, "fabrics", "6", B, True),
}

# NVMe Base 2.1, Fig. 141 note 10 (exported NVM resources), and Fabrics (section 6): never on PCIe.
NOT_ON_PCIE = {
    "clear-exported-nvm-resource-configuration", "create-exported-nvm-subsystem",
    "manage-exported-nvm-subsystem", "manage-exported-namespace", "manage-exported-port", "fabrics",
}  # fmt: skip

# What each needs to be sent on the simulator: its device, field values and data length.
SENDS: dict[str, tuple[str, list[str], int | None]] = {
    "cancel": ("sim0n1", [], None),
    "discovery-information-management": ("sim0", [], 64),
    "fabric-zoning-receive": ("sim0", ["numd=16"], None),
    "fabric-zoning-lookup": ("sim0", [], 64),
    "clear-exported-nvm-resource-configuration": ("sim0", [], None),
    "fabric-zoning-send": ("sim0", ["numd=4", "lf=1"], None),
    "create-exported-nvm-subsystem": ("sim0", ["ra=1"], 256),
    "manage-exported-nvm-subsystem": ("sim0", ["sel=delete"], None),
    "manage-exported-namespace": ("sim0", ["sel=associate-namespace"], None),
    "manage-exported-port": ("sim0", [], 64),
    "send-discovery-log-page": ("sim0", [], 64),
    "track-send": ("sim0", ["mos=1", "cdqid=1"], None),
    "track-receive": ("sim0", ["numdl=16"], None),
    "migration-send": ("sim0", ["sel=suspend", "cntlid=1", "stype=suspend"], None),
    "migration-receive": ("sim0", ["cntlid=1", "numdl=16"], None),
    "fabrics": ("sim0", ["fctype=property-get", "cdw11=0x1c"], None),
}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    loaded = load_catalogue(user_dir=False)
    assert loaded.errors == []
    return loaded


def encode(defn: CommandDef, *assignments: str, data_len: int | None = None) -> dict[str, int]:
    cmd = defn.encode(defn.parse_values(list(assignments)), device_nsid=1, lba_size=512, data_len=data_len)
    return {name: getattr(cmd, name) for name in ("opcode", "nsid", "cdw10", "cdw11", "cdw12", "cdw13",
                                                  "cdw14", "cdw15", "data_len")}  # fmt: skip


# --- the entries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(NEW))
def test_each_new_entry_has_its_opcode_set_section_direction_and_guard(cat: Catalogue, command: str) -> None:
    queue, opcode, cmd_set, spec, direction, destructive = NEW[command]
    defn = cat.get(command)
    assert (defn.queue, defn.opcode, defn.set) == (queue, opcode, cmd_set)
    assert defn.spec == f"NVMe Base 2.1, {spec}"
    assert defn.direction is direction is DataDirection.of_opcode(opcode)
    assert defn.is_destructive() is destructive
    assert bool(defn.refused_on) is (command in NOT_ON_PCIE)
    assert defn.help and all(f.help for f in defn.fields)


def test_the_new_admin_opcodes_complete_the_2_1_admin_set(cat: Catalogue) -> None:
    admin = {e.opcode for e in cat.entries if e.queue == "admin" and not e.raw and not e.preset_of}
    # NVMe Base 2.1, Fig. 141 (the Admin opcodes, with those of the I/O command sets: 86h Get LBA Status).
    spec_2_1 = {
        0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x10, 0x11, 0x14, 0x15, 0x18, 0x19,
        0x1A, 0x1C, 0x1D, 0x1E, 0x20, 0x21, 0x22, 0x24, 0x25, 0x28, 0x29, 0x2A, 0x2D, 0x31, 0x35, 0x39, 0x3D,
        0x3E, 0x41, 0x42, 0x45, 0x7C, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x86,
    }  # fmt: skip
    assert spec_2_1 <= admin, sorted(spec_2_1 - admin)


def test_cancel_places_sqid_cid_and_the_action_code(cat: Catalogue) -> None:
    got = encode(cat.get("cancel"), "sqid=3", "cid=0x1234", "acode=multiple-command-cancel")
    assert got["cdw10"] == 0x1234_0003 and got["cdw11"] == 0b01 and got["nsid"] == 1  # Figs. 557, 558
    assert encode(cat.get("cancel"))["cdw10"] == 0xFFFF_0000  # the CID default: FFFFh


def test_fabric_zoning_send_and_receive_place_key_offset_count_and_flags(cat: Catalogue) -> None:
    got = encode(cat.get("fabric-zoning-send"), "zdk=0xabcd", "zdo=0x40", "numd=3", "zdkc=1", "lf=1")
    # NVMe Base 2.1, Figs. 512-514
    assert (got["cdw10"], got["cdw11"], got["cdw12"]) == (0xABCD, 0x40, 1 << 31 | 1 << 28 | 3)
    assert got["data_len"] == 12  # NUMD is a count here, not 0-based
    got = encode(cat.get("fabric-zoning-receive"), "numd=2", "zdkc=1")
    assert got["cdw12"] == 1 << 28 | 2 and got["data_len"] == 8  # Fig. 508
    with pytest.raises(UsageError, match="numd: 0 out of range"):  # 0 is Invalid Field in Command
        cat.get("fabric-zoning-receive").parse_values(["numd=0"])


def test_discovery_information_management_task_in_cdw10_bits_3_0(cat: Catalogue) -> None:
    assert encode(cat.get("dim"), "tas=update", data_len=64)["cdw10"] == 0x2  # Fig. 496


def test_migration_send_suspend_places_dudmq_stype_and_cntlid(cat: Catalogue) -> None:
    got = encode(cat.get("migration-send"), "sel=suspend", "cntlid=7", "stype=suspend", "dudmq=1", "uidx=2")
    assert (got["cdw10"], got["cdw11"], got["cdw14"]) == (0, 1 << 31 | 1 << 16 | 7, 2)  # Figs. 349-351
    assert got["data_len"] == 0
    assert encode(cat.get("migration-send"), "sel=resume", "cntlid=7")["cdw10"] == 1
    with pytest.raises(UsageError, match="sel: required"):
        cat.get("migration-send").parse_values([])


def test_migration_receive_places_csvi_in_the_mos_and_a_zero_based_numdl(cat: Catalogue) -> None:
    got = encode(cat.get("migration-recv"), "csvi=1", "cntlid=5", "csuuidi=2", "csuidxp=3", "numdl=16")
    assert got["cdw10"] == 1 << 16 and got["cdw11"] == 3 << 24 | 2 << 16 | 5  # Figs. 345, 346
    assert got["cdw15"] == 15 and got["data_len"] == 64  # Fig. 344: 0-based


def test_track_send_and_receive(cat: Catalogue) -> None:
    got = encode(cat.get("track-send"), "mos=1", "cdqid=9")  # log user data changes: start logging
    assert (got["cdw10"], got["cdw11"], got["data_len"]) == (1 << 16, 9, 0)  # Figs. 463, 465
    got = encode(cat.get("track-receive"), "numdl=4")
    assert got["cdw10"] == 0 and got["cdw12"] == 3 and got["data_len"] == 16  # Figs. 457, 458


def test_exported_subsystem_commands_move_a_4_kib_structure(cat: Catalogue) -> None:
    got = encode(cat.get("manage-exported-nvm-subsystem"), "sel=grant-host-access")
    assert got["cdw10"] == 0x03 and got["data_len"] == 4096  # Fig. 521
    got = encode(cat.get("manage-exported-namespace"), "sel=disassociate-namespace")
    assert got["cdw10"] == 0x02 and got["data_len"] == 4096  # Fig. 517
    got = encode(cat.get("create-exported-nvm-subsystem"), "ra=1", data_len=256)
    assert got["cdw10"] == 1 << 8  # Fig. 494


def test_fabrics_puts_its_command_type_in_byte_4_where_the_nsid_was(cat: Catalogue) -> None:
    defn = cat.get("fabrics")
    assert "nsid" not in defn.field_names  # FCTYPE takes its place (Fig. 94)
    got = encode(defn, "fctype=property-set", "cdw10=1", "cdw11=0x14", "cdw12=0x460001")
    assert (got["opcode"], got["nsid"], got["cdw11"], got["data_len"]) == (0x7F, 0x00, 0x14, 0)
    got = encode(defn, "fctype=connect")
    assert got["nsid"] == 0x01 and got["data_len"] == 1024  # the connect data
    assert encode(defn, "fctype=disconnect")["nsid"] == 0x08


def test_the_controller_data_queue_is_refused_as_the_io_queues_are(cat: Catalogue) -> None:
    cdq = cat.get("create-cdq")  # nvme-cli's lm plugin names (create-cdq, delete-cdq) are aliases
    assert cdq.id == "controller-data-queue" and cat.get("delete-cdq") is cdq
    assert cdq.refusal() and "host memory" in cdq.refusal()  # type: ignore[operator]
    with pytest.raises(UsageError, match="controller-data-queue: refused"):
        encode(cdq, "sel=create", "cntlid=1", "pc=1", "cdqsize=1024", data_len=4096)
    # Its bits as documented (Figs. 161-166), were it sent: create's queue type, PC and CNTLID.
    fields = {f.name: f for f in cdq.fields}
    where = {name: (f.slices[0].location, f.slices[0].msb, f.slices[0].lsb) for name, f in fields.items()}
    assert where["sel"] == ("cdw10", 7, 0) and where["qt"] == ("cdw10", 23, 16)
    assert where["pc"] == ("cdw11", 0, 0) and where["cntlid"] == ("cdw11", 31, 16)
    assert where["cdqsize"][0] == "cdw12"
    assert cat.get("admin-passthru").refusal({"opcode": 0x45}) is not None  # the raw form is refused too


# --- refused on a transport --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(NOT_ON_PCIE))
def test_refused_on_pcie_and_only_there(cat: Catalogue, command: str) -> None:
    defn = cat.get(command)
    said = defn.transport_refusal("pcie")
    assert said is not None and said.startswith("not sent to a PCIe controller: ") and "\n" not in said
    for transport in ("tcp", "rdma", "fc", "loop", "sim", None):
        assert defn.transport_refusal(transport) is None


def test_transport_of_reads_the_controllers_sysfs_attribute(tmp_path: Path) -> None:
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    for name, transport in (("nvme0", "pcie"), ("nvme1", "tcp")):
        ctrl = sysfs / "class" / "nvme" / name
        ctrl.mkdir(parents=True)
        (ctrl / "transport").write_text(f"{transport}\n")
        dev.mkdir(exist_ok=True)
        (dev / name).touch()
    assert transport_of("/dev/nvme0", sysfs=sysfs, dev=dev) == "pcie"
    assert transport_of("nvme1", sysfs=sysfs, dev=dev) == "tcp"
    (sysfs / "class" / "nvme" / "nvme1" / "transport").unlink()
    assert transport_of("nvme1", sysfs=sysfs, dev=dev) is None


async def test_a_pcie_controller_refuses_fabrics_in_one_line_before_opening_the_device(
    cat: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nvtui.backend.discovery

    monkeypatch.setattr(nvtui.backend.discovery, "transport_of", lambda name: "pcie")
    session = Session(cat)

    async def never(device: str) -> None:
        raise AssertionError(f"{device} was opened")

    monkeypatch.setattr(session, "backend", never)
    for command in sorted(NOT_ON_PCIE):
        with pytest.raises(UsageError) as refused:
            await session.prepare("/dev/nvme0", command, allow_destructive=True)
        message = str(refused.value)
        assert message.startswith(f"{command}: refused on /dev/nvme0: not sent to a PCIe controller: ")
        assert "\n" not in message


async def test_a_tcp_controller_is_not_refused_by_the_pcie_rule(
    cat: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nvtui.backend.discovery

    monkeypatch.setattr(nvtui.backend.discovery, "transport_of", lambda name: "tcp")
    session = Session(cat)

    class Opened(Exception):
        pass

    async def opened(device: str) -> None:
        raise Opened(device)

    monkeypatch.setattr(session, "backend", opened)
    with pytest.raises(Opened):  # past the transport check: the device is opened to send it
        await session.prepare("/dev/nvme3", "fabrics", ["fctype=property-get"], allow_destructive=True)


def test_a_user_catalogue_names_a_known_transport_and_a_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "version: 1\ncommands:\n"
        "  - {id: acme-fabric, name: Acme, set: vendor, opcode: 0xc0, queue: admin, help: x,\n"
        "     refused_on: {pcie: 'acme ships it on its TCP target only'}}\n"
    )
    assert check_file(good) == []
    for bad, needle in (("{usb: 'no'}", "refused_on"), ("{pcie: ''}", "refused_on")):
        path = tmp_path / "bad.yaml"
        path.write_text(
            "version: 1\ncommands:\n"
            "  - {id: acme-fabric, name: Acme, set: vendor, opcode: 0xc0, queue: admin, help: x,\n"
            f"     refused_on: {bad}}}\n"
        )
        errors = check_file(path)
        assert len(errors) == 1, errors
        assert needle in str(errors[0]) and "bad.yaml:4: acme-fabric: field refused_on" in str(errors[0])


# --- the simulator lacks them: Invalid Command Opcode, as a controller that lacks them ----------------------


@pytest.fixture
async def session(cat: Catalogue, sim_dir: Path) -> AsyncIterator[Session]:
    s = Session(cat)
    yield s
    await s.close()


@pytest.mark.parametrize("command", sorted(SENDS))
async def test_the_simulator_answers_each_new_opcode_it_lacks_with_invalid_command_opcode(
    session: Session, command: str
) -> None:
    device, assignments, data_len = SENDS[command]
    prepared = await session.prepare(device, command, assignments, data_len=data_len, allow_destructive=True)
    sent = prepared.command
    if sent.data_len and sent.direction in (DataDirection.HOST_TO_CONTROLLER, DataDirection.BIDIRECTIONAL):
        data = bytes(sent.data_len)  # the data it sends, given (nvtui sends none nobody chose)
        prepared = await session.prepare(device, command, assignments, data=data, allow_destructive=True)
    result = await session.send(prepared)
    status = result.completion.status
    assert (status.sct, status.sc, status.name) == (0, 0x01, "Invalid Command Opcode"), command
    assert status.dnr


async def test_destructive_new_entries_are_refused_without_allow_destructive(session: Session) -> None:
    for command, (device, assignments, data_len) in sorted(SENDS.items()):
        if not NEW[command][5]:
            continue
        with pytest.raises(UsageError, match=f"{command} is destructive"):
            await session.prepare(device, command, assignments, data_len=data_len)
