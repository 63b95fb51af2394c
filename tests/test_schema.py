"""`nvtui schema`: JSON Schema per structure, and real `--json` output validated against it; every JSON
document nvtui prints carries `schema_version`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nvtui.cli import main
from nvtui.nvme.decode.features import feature_structure
from nvtui.structures.jsonschema import SCHEMA_VERSION

EXAMPLE = Path(__file__).parent.parent / "examples" / "vendor-acme.yaml"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(list(argv))
    out = capsys.readouterr().out
    assert code in (0, 1), out
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def schema_of(capsys: pytest.CaptureFixture[str], structure: str) -> dict[str, object]:
    assert main(["schema", structure]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


# (device, command fields, the structure its data decodes as)
SENDS = [
    ("sim0", ["identify", "cns=1"], "identify-controller"),
    ("sim0n1", ["identify", "cns=0"], "identify-namespace"),
    ("sim0", ["identify", "cns=2", "nsid=0"], "active-namespace-list"),
    ("sim0n2", ["identify", "cns=3"], "namespace-descriptor-list"),
    ("sim0n2", ["identify", "cns=5", "csi=zns"], "identify-ns-zns"),
    ("sim0n1", ["identify", "cns=5", "csi=nvm"], "identify-ns-nvm"),
    ("sim0", ["identify", "cns=6", "csi=nvm"], "identify-ctrl-nvm"),
    ("sim0", ["identify", "cns=6", "csi=zns"], "identify-ctrl-zns"),
    ("sim0", ["get-log-page", "lid=error"], "error-log"),
    ("sim0", ["get-log-page", "lid=smart"], "smart-log"),
    ("sim0", ["get-log-page", "lid=firmware-slot"], "firmware-slot-log"),
    ("sim0", ["get-log-page", "lid=changed-ns-list", "numd=1024"], "changed-ns-list-log"),
    ("sim0", ["get-log-page", "lid=commands-supported-effects", "numd=1024"], "effects-log"),
    ("sim0", ["get-log-page", "lid=self-test", "numd=141"], "self-test-log"),
    ("sim0n2", ["zone-mgmt-recv", "numd=1024"], "zone-report"),
]


@pytest.mark.parametrize(("device", "fields", "structure"), SENDS, ids=[s for _, _, s in SENDS])
def test_send_json_decoded_validates_against_the_structures_schema(
    capsys: pytest.CaptureFixture[str], device: str, fields: list[str], structure: str
) -> None:
    schema = schema_of(capsys, structure)
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = run_json(capsys, "send", device, *fields, "--json")
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["decoded"] is not None
    jsonschema.validate(doc["decoded"], schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    "fid", ["arbitration", "temperature-threshold", "number-of-queues", "async-event-config"]
)
@pytest.mark.parametrize("sel", ["current", "supported-capabilities"])
def test_get_features_dw0_validates_against_its_feature_layout(
    capsys: pytest.CaptureFixture[str], fid: str, sel: str
) -> None:
    doc = run_json(capsys, "send", "sim0", "get-features", f"fid={fid}", f"sel={sel}", "--json")
    fields = doc["fields"]
    assert isinstance(fields, dict)
    structure = feature_structure(fields["fid"], fields["sel"])
    assert (structure == "feature-capabilities") == (sel == "supported-capabilities")
    jsonschema.validate(doc["decoded"], schema_of(capsys, structure), cls=jsonschema.Draft202012Validator)


def test_a_schema_rejects_what_the_structure_cannot_hold(capsys: pytest.CaptureFixture[str]) -> None:
    schema = schema_of(capsys, "smart-log")
    good = run_json(capsys, "send", "sim0", "get-log-page", "lid=smart", "--json")["decoded"]
    assert isinstance(good, dict)
    for bad in ({**good, "temperature": 1 << 16}, {**good, "extra": 1}, {**good, "percent_used": "5"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    jsonschema.validate({**good, "temperature": None}, schema)  # not transferred


def test_all_schemas_in_one_document_include_user_structures(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "schema", "--catalogue", str(EXAMPLE))
    jsonschema.Draft202012Validator.check_schema(doc)
    defs = doc["$defs"]
    assert isinstance(defs, dict)
    assert {"identify-controller", "smart-log", "zone-report", "acme-health-log"} <= set(defs)
    assert doc["schema_version"] == SCHEMA_VERSION


def test_an_unknown_structure_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "smart-lgo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no structure named 'smart-lgo'; did you mean smart-log" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--json"],
        ["catalogue", "list", "--json"],
        ["send", "sim0", "identify", "cns=1", "--json"],
        ["send", "sim0", "--nvme-cli", "nvme id-ctrl /dev/nvme0 -o json", "--json"],
        ["bench", "sim0n1", "--seconds", "0.2", "--json"],
    ],
)
def test_every_json_document_carries_schema_version(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run_json(capsys, *argv)["schema_version"] == SCHEMA_VERSION


def test_a_replay_json_document_carries_schema_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("nvtui-script: 1\ndevice: sim0\nsteps:\n  - command: identify\n    fields: {cns: 1}\n")
    assert run_json(capsys, "run", str(script), "--json")["schema_version"] == SCHEMA_VERSION
