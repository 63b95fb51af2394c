"""Completion status names: the spec's text for each (SCT, SC), and the status field split into its parts."""

from __future__ import annotations

import pytest

from nvtui.nvme.completion import Status
from nvtui.nvme.status_names import SCT_NAMES, STATUS_NAMES, status_name


@pytest.mark.parametrize(
    ("sct", "sc", "name"),
    [
        # Generic Command Status (NVMe Base 2.0, Fig. 102)
        (0x0, 0x00, "Successful Completion"),
        (0x0, 0x01, "Invalid Command Opcode"),
        (0x0, 0x02, "Invalid Field in Command"),
        (0x0, 0x06, "Internal Error"),
        (0x0, 0x0B, "Invalid Namespace or Format"),
        (0x0, 0x16, "SGL Offset Invalid"),
        (0x0, 0x18, "Host Identifier Inconsistent Format"),
        (0x0, 0x1D, "Sanitize In Progress"),
        (0x0, 0x24, "Admin Command Media Not Ready"),
        # ... and the NVM / Key Value command sets' generic codes
        (0x0, 0x80, "LBA Out of Range"),
        (0x0, 0x81, "Capacity Exceeded"),
        (0x0, 0x82, "Namespace Not Ready"),
        (0x0, 0x83, "Reservation Conflict"),
        (0x0, 0x84, "Format In Progress"),
        (0x0, 0x85, "Invalid Value Size"),
        (0x0, 0x89, "Key Exists"),
        # Command Specific Status (Fig. 103)
        (0x1, 0x00, "Completion Queue Invalid"),
        (0x1, 0x01, "Invalid Queue Identifier"),
        (0x1, 0x02, "Invalid Queue Size"),
        (0x1, 0x06, "Invalid Firmware Slot"),
        (0x1, 0x09, "Invalid Log Page"),
        (0x1, 0x0A, "Invalid Format"),
        (0x1, 0x0B, "Firmware Activation Requires Conventional Reset"),
        (0x1, 0x10, "Firmware Activation Requires NVM Subsystem Reset"),
        (0x1, 0x15, "Namespace Insufficient Capacity"),
        (0x1, 0x16, "Namespace Identifier Unavailable"),
        (0x1, 0x18, "Namespace Already Attached"),
        (0x1, 0x1A, "Namespace Not Attached"),
        (0x1, 0x1D, "Device Self-test In Progress"),
        (0x1, 0x2D, "Identifier Unavailable"),
        # ... NVM command set
        (0x1, 0x80, "Conflicting Attributes"),
        (0x1, 0x81, "Invalid Protection Information"),
        (0x1, 0x82, "Attempted Write to Read Only Range"),
        (0x1, 0x83, "Command Size Limit Exceeded"),
        # ... Zoned Namespace command set
        (0x1, 0xB8, "Zone Boundary Error"),
        (0x1, 0xB9, "Zone Is Full"),
        (0x1, 0xBA, "Zone Is Read Only"),
        (0x1, 0xBB, "Zone Is Offline"),
        (0x1, 0xBC, "Zone Invalid Write"),
        (0x1, 0xBD, "Too Many Active Zones"),
        (0x1, 0xBE, "Too Many Open Zones"),
        (0x1, 0xBF, "Invalid Zone State Transition"),
        # Media and Data Integrity Errors (Fig. 104)
        (0x2, 0x80, "Write Fault"),
        (0x2, 0x81, "Unrecovered Read Error"),
        (0x2, 0x82, "End-to-end Guard Check Error"),
        (0x2, 0x85, "Compare Failure"),
        (0x2, 0x87, "Deallocated or Unwritten Logical Block"),
        # Path Related Status (Fig. 105)
        (0x3, 0x00, "Internal Path Error"),
        (0x3, 0x02, "Asymmetric Access Inaccessible"),
        (0x3, 0x03, "Asymmetric Access Transition"),
        (0x3, 0x60, "Controller Pathing Error"),
        (0x3, 0x70, "Host Pathing Error"),
        (0x3, 0x71, "Command Aborted By Host"),
    ],
)
def test_status_codes_carry_the_spec_name(sct: int, sc: int, name: str) -> None:
    assert status_name(sct, sc) == name


@pytest.mark.parametrize(
    ("sct", "sc"),
    [
        (0x0, 0x17),  # reserved between SGL Offset Invalid and Host Identifier Inconsistent Format
        (0x0, 0x7F),
        (0x0, 0xBF),
        (0x1, 0x04),  # reserved since NVMe 1.0's "Abort Command Is Missing" was dropped
        (0x1, 0x17),
        (0x1, 0x70),
        (0x1, 0x84),
        (0x2, 0x00),
        (0x2, 0x89),
        (0x3, 0x04),
        (0x3, 0x72),
        (0x4, 0x00),
        (0x5, 0x02),
        (0x6, 0xFF),
    ],
)
def test_unassigned_codes_are_named_reserved_with_their_numbers(sct: int, sc: int) -> None:
    assert status_name(sct, sc) == f"Reserved (SCT {sct:#x}, SC {sc:#04x})"


def test_reserved_name_format() -> None:
    assert status_name(0x1, 0x04) == "Reserved (SCT 0x1, SC 0x04)"
    assert status_name(0x5, 0x7E) == "Reserved (SCT 0x5, SC 0x7e)"


def test_vendor_specific_status_code_type_names_the_code() -> None:
    assert status_name(0x7, 0x12) == "Vendor Specific Status 0x12"
    assert status_name(0x7, 0x00) == "Vendor Specific Status 0x00"


def test_vendor_specific_codes_of_the_standard_types() -> None:
    # C0h-FFh of every standard status code type are vendor specific
    assert status_name(0x0, 0xC0) == "Vendor Specific (Generic Command Status, SC 0xc0)"
    assert status_name(0x2, 0xFF) == "Vendor Specific (Media and Data Integrity Errors, SC 0xff)"


def test_sct_names_name_the_five_types() -> None:
    assert SCT_NAMES == {
        0x0: "Generic Command Status",
        0x1: "Command Specific Status",
        0x2: "Media and Data Integrity Errors",
        0x3: "Path Related Status",
        0x7: "Vendor Specific",
    }


def test_no_two_codes_of_one_type_share_a_name() -> None:
    for sct, names in STATUS_NAMES.items():
        assert all(0 <= sc <= 0xFF for sc in names), sct
        assert len(set(names.values())) == len(names), f"duplicate name in SCT {sct:#x}"


def _status_field(*, sc: int, sct: int, crd: int, more: bool, dnr: bool) -> int:
    """The 15-bit status field as Linux returns it (NVMe Base 2.0, Fig. 101, phase tag dropped)."""
    return sc | sct << 8 | crd << 11 | int(more) << 13 | int(dnr) << 14


def test_status_value_splits_into_its_parts() -> None:
    status = Status(_status_field(sc=0x0A, sct=0x1, crd=2, more=True, dnr=True))
    assert status.value == 0x710A
    assert (status.sc, status.sct, status.crd, status.more, status.dnr) == (0x0A, 0x1, 2, True, True)
    assert status.name == "Invalid Format"
    assert status.sct_name == "Command Specific Status"
    assert not status.ok


def test_invalid_field_with_do_not_retry_as_the_kernel_reports_it() -> None:
    status = Status(0x4002)
    assert (status.sct, status.sc, status.dnr, status.more, status.crd) == (0, 0x02, True, False, 0)
    assert status.to_json() == {
        "value": 0x4002, "sct": 0, "sc": 2, "name": "Invalid Field in Command",
        "dnr": True, "more": False, "crd": 0,
    }  # fmt: skip
    assert str(status) == "Invalid Field in Command (SCT 0x0, SC 0x02 DNR)"


def test_success_and_media_error_from_parts() -> None:
    assert Status(0).ok and Status(0).name == "Successful Completion"
    status = Status.make(0x2, 0x81, dnr=True, crd=1)
    assert status.value == _status_field(sc=0x81, sct=0x2, crd=1, more=False, dnr=True)
    assert status.name == "Unrecovered Read Error"


def test_status_field_wider_than_15_bits_is_rejected() -> None:
    with pytest.raises(ValueError):
        Status(0x8000)
