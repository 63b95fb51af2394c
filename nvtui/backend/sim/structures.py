"""The byte layouts the simulated controller returns, one table per structure, offsets from the specs.

NVMe Base 2.0 (Identify Controller Fig. 275, power state descriptor Fig. 276, Identify Namespace Fig. 280 of
the NVM Command Set 1.0 spec, error information Fig. 205, SMART / Health Fig. 207, firmware slot Fig. 209,
commands supported and effects Fig. 210-211, device self-test Fig. 213-214, namespace identification
descriptor Fig. 281), NVM Command Set 1.0 (Fig. 97 I/O command set specific Identify Namespace,
Fig. 99 NVM Identify Controller, copy source range Fig. 39, DSM range Fig. 41) and Zoned Namespace Command
Set 1.1 (Fig. 51 Identify Namespace, Fig. 53 Identify Controller, Fig. 37-39 zone report, Fig. 25 changed
zone list).
"""

from __future__ import annotations

from nvtui.backend.sim.layout import Layout

IDENTIFY_SIZE = 4096

IDENTIFY_CONTROLLER = Layout("identify-controller", IDENTIFY_SIZE, {
    "vid": (0, 2), "ssvid": (2, 2), "sn": (4, 20), "mn": (24, 40), "fr": (64, 8), "rab": (72, 1),
    "ieee": (73, 3), "cmic": (76, 1), "mdts": (77, 1), "cntlid": (78, 2), "ver": (80, 4),
    "rtd3r": (84, 4), "rtd3e": (88, 4), "oaes": (92, 4), "ctratt": (96, 4), "rrls": (100, 2),
    "cntrltype": (111, 1), "fguid": (112, 16), "crdt1": (128, 2), "crdt2": (130, 2), "crdt3": (132, 2),
    "nvmsr": (253, 1), "vwci": (254, 1), "mec": (255, 1),
    "oacs": (256, 2), "acl": (258, 1), "aerl": (259, 1), "frmw": (260, 1), "lpa": (261, 1),
    "elpe": (262, 1), "npss": (263, 1), "avscc": (264, 1), "apsta": (265, 1), "wctemp": (266, 2),
    "cctemp": (268, 2), "mtfa": (270, 2), "hmpre": (272, 4), "hmmin": (276, 4), "tnvmcap": (280, 16),
    "unvmcap": (296, 16), "rpmbs": (312, 4), "edstt": (316, 2), "dsto": (318, 1), "fwug": (319, 1),
    "kas": (320, 2), "hctma": (322, 2), "mntmt": (324, 2), "mxtmt": (326, 2), "sanicap": (328, 4),
    "sqes": (512, 1), "cqes": (513, 1), "maxcmd": (514, 2), "nn": (516, 4), "oncs": (520, 2),
    "fuses": (522, 2), "fna": (524, 1), "vwc": (525, 1), "awun": (526, 2), "awupf": (528, 2),
    "icsvscc": (530, 1), "nwpc": (531, 1), "acwu": (532, 2), "ocfs": (534, 2), "sgls": (536, 4),
    "mnan": (540, 4), "subnqn": (768, 256),
})  # fmt: skip
PSD_OFFSET, PSD_SIZE = 2048, 32
POWER_STATE = Layout("power-state-descriptor", PSD_SIZE, {
    "mp": (0, 2), "flags": (3, 1), "enlat": (4, 4), "exlat": (8, 4), "rrt": (12, 1), "rrl": (13, 1),
    "rwt": (14, 1), "rwl": (15, 1), "idlp": (16, 2), "ips": (18, 1), "actp": (20, 2), "apw_aps": (22, 1),
})  # fmt: skip

IDENTIFY_NAMESPACE = Layout("identify-namespace", IDENTIFY_SIZE, {
    "nsze": (0, 8), "ncap": (8, 8), "nuse": (16, 8), "nsfeat": (24, 1), "nlbaf": (25, 1), "flbas": (26, 1),
    "mc": (27, 1), "dpc": (28, 1), "dps": (29, 1), "nmic": (30, 1), "rescap": (31, 1), "fpi": (32, 1),
    "dlfeat": (33, 1), "nawun": (34, 2), "nawupf": (36, 2), "nacwu": (38, 2), "nabsn": (40, 2),
    "nabo": (42, 2), "nabspf": (44, 2), "noiob": (46, 2), "nvmcap": (48, 16), "npwg": (64, 2),
    "npwa": (66, 2), "npdg": (68, 2), "npda": (70, 2), "nows": (72, 2), "mssrl": (74, 2), "mcl": (76, 4),
    "msrc": (80, 1), "nulbaf": (82, 1), "anagrpid": (92, 4), "nsattr": (99, 1), "nvmsetid": (100, 2),
    "endgid": (102, 2), "nguid": (104, 16), "eui64": (120, 8),
})  # fmt: skip
LBAF_OFFSET = 128  # 64 LBA Format descriptors of 4 bytes: MS 15:0, LBADS 23:16, RP 25:24


# I/O Command Set Independent Identify Namespace (CNS 08h), NVMe Base 2.0 Fig. 280 (in 2.0: Fig. 283).
IDENTIFY_NS_INDEPENDENT = Layout("identify-ns-independent", IDENTIFY_SIZE, {
    "nsfeat": (0, 1), "nmic": (1, 1), "rescap": (2, 1), "fpi": (3, 1), "anagrpid": (4, 4),
    "nsattr": (8, 1), "nvmsetid": (10, 2), "endgid": (12, 2), "nstat": (14, 1),
})  # fmt: skip

# NVM Command Set specific Identify Controller (CNS 06h, CSI 00h).
IDENTIFY_CONTROLLER_NVM = Layout("identify-controller-nvm", IDENTIFY_SIZE, {
    "vsl": (0, 1), "wzsl": (1, 1), "wusl": (2, 1), "dmrl": (3, 1), "dmrsl": (4, 4), "dmsl": (8, 8),
})  # fmt: skip

# Zoned Namespace Command Set specific Identify Controller (CNS 06h, CSI 02h).
IDENTIFY_CONTROLLER_ZNS = Layout("identify-controller-zns", IDENTIFY_SIZE, {"zasl": (0, 1)})

# Zoned Namespace Command Set specific Identify Namespace (CNS 05h, CSI 02h).
IDENTIFY_NAMESPACE_ZNS = Layout("identify-namespace-zns", IDENTIFY_SIZE, {
    "zoc": (0, 2), "ozcs": (2, 2), "mar": (4, 4), "mor": (8, 4), "rrl": (12, 4), "frl": (16, 4),
    "rrl1": (20, 4), "rrl2": (24, 4), "rrl3": (28, 4), "frl1": (32, 4), "frl2": (36, 4), "frl3": (40, 4),
    "numzrwa": (44, 4), "zrwafg": (48, 2), "zrwasz": (50, 2), "zrwacap": (52, 1),
})  # fmt: skip
LBAFE_OFFSET, LBAFE_SIZE = 2816, 16  # LBA Format Extension: ZSZE 8 bytes, ZDES 1 byte
LBA_FORMAT_EXTENSION = Layout("lba-format-extension", LBAFE_SIZE, {"zsze": (0, 8), "zdes": (8, 1)})

# Namespace Identification Descriptor list (CNS 03h): NIDT, NIDL, 2 reserved, NID.
NIDT_EUI64, NIDT_NGUID, NIDT_UUID, NIDT_CSI = 1, 2, 3, 4

# --- log pages -------------------------------------------------------------------------------------------

ERROR_ENTRY_SIZE = 64
ERROR_ENTRY = Layout("error-information-entry", ERROR_ENTRY_SIZE, {
    "error_count": (0, 8), "sqid": (8, 2), "cmdid": (10, 2), "status_field": (12, 2),
    "parm_error_location": (14, 2), "lba": (16, 8), "nsid": (24, 4), "vs": (28, 1), "trtype": (29, 1),
    "cs": (32, 8), "trtype_spec_info": (40, 2),
})  # fmt: skip

SMART_LOG = Layout("smart-log", 512, {
    "critical_warning": (0, 1), "temperature": (1, 2), "avail_spare": (3, 1), "spare_thresh": (4, 1),
    "percent_used": (5, 1), "endu_grp_crit_warn_sumry": (6, 1), "data_units_read": (32, 16),
    "data_units_written": (48, 16), "host_read_commands": (64, 16), "host_write_commands": (80, 16),
    "ctrl_busy_time": (96, 16), "power_cycles": (112, 16), "power_on_hours": (128, 16),
    "unsafe_shutdowns": (144, 16), "media_errors": (160, 16), "num_err_log_entries": (176, 16),
    "warning_temp_time": (192, 4), "critical_comp_time": (196, 4),
    **{f"temp_sensor{i + 1}": (200 + 2 * i, 2) for i in range(8)},
    "thm_temp1_trans_count": (216, 4), "thm_temp2_trans_count": (220, 4),
    "thm_temp1_total_time": (224, 4), "thm_temp2_total_time": (228, 4),
})  # fmt: skip

FIRMWARE_SLOT_LOG = Layout("firmware-slot-log", 512, {
    "afi": (0, 1), **{f"frs{i}": (8 * i, 8) for i in range(1, 8)},
})  # fmt: skip

CHANGED_NS_LIST_SIZE = 4096  # 1024 namespace IDs

EFFECTS_LOG_SIZE = 4096  # ACS0..ACS255 at 0, IOCS0..IOCS255 at 1024, dword each
EFFECT_CSUPP, EFFECT_LBCC, EFFECT_NCC, EFFECT_NIC, EFFECT_CCC = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4


def effect_cse(value: int) -> int:
    """Command Submission and Execution, bits 18:16: 0 none, 1 one per namespace, 2 one per controller."""
    return value << 16


SELF_TEST_LOG_SIZE = 564
SELF_TEST_HEADER = Layout(
    "device-self-test-log", 4, {"current_operation": (0, 1), "current_completion": (1, 1)}
)
SELF_TEST_RESULT_OFFSET, SELF_TEST_RESULT_SIZE, SELF_TEST_RESULTS = 4, 28, 20
SELF_TEST_RESULT = Layout("self-test-result", SELF_TEST_RESULT_SIZE, {
    "status": (0, 1), "segment": (1, 1), "valid": (2, 1), "power_on_hours": (4, 8), "nsid": (12, 4),
    "flba": (16, 8), "sct": (24, 1), "sc": (25, 1), "vs": (26, 2),
})  # fmt: skip

CHANGED_ZONE_LIST_SIZE = 4096  # number of zone identifiers (2 bytes) at 0, up to 511 ZSLBAs from 8

ZONE_REPORT_HEADER_SIZE = 64  # number of zones (8 bytes), reserved
ZONE_DESCRIPTOR_SIZE = 64
ZONE_DESCRIPTOR = Layout("zone-descriptor", ZONE_DESCRIPTOR_SIZE, {
    "zt": (0, 1), "zs": (1, 1), "za": (2, 1), "zai": (3, 1), "zcap": (8, 8), "zslba": (16, 8), "wp": (24, 8),
})  # fmt: skip

DSM_RANGE_SIZE = 16  # context attributes (4), length in logical blocks (4), starting LBA (8)
COPY_RANGE_SIZE = 32  # format 0: reserved (8), SLBA (8), NLB 0-based (2), reserved (6), EILBRT/ELBAT/ELBATM
