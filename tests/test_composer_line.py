"""The Compose screen's command line and search, without the screen: a line reads as `nvtui send` reads the
same words (the same error, word for word), the form's values write back the line a user would type, the
line completes ids, field names and value names, and the search finds commands by what they do."""

from __future__ import annotations

import pytest

from nvtui.catalogue import Catalogue, load_catalogue
from nvtui.catalogue.cmdline import complete_line, line_of, parse_line
from nvtui.catalogue.search import search
from nvtui.cli import main


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue([])


@pytest.mark.parametrize(
    "words",
    [
        "get-log-page numd=0",
        "get-log-page bogus=1",
        "smrt-log",
        "get-log-page lid=smar",
        "identify cns",
        "get-features fid=4 fid=5",
    ],
)
def test_a_wrong_line_gets_the_cli_s_own_error(
    catalogue: Catalogue, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed = parse_line(catalogue, words)
    assert parsed.error
    assert main(["send", "sim0", *words.split()]) == 2
    assert capsys.readouterr().err.strip() == f"nvtui: {parsed.error}"


def test_a_good_line_reads_as_its_fields(catalogue: Catalogue) -> None:
    parsed = parse_line(catalogue, "get-log  lid=smart NUMD=128")
    assert parsed.error is None and parsed.defn is not None and parsed.defn.id == "get-log-page"
    assert parsed.texts == {"lid": "smart", "numd": "128"}
    wrong = parse_line(catalogue, "get-log-page lid=smart numd=0")  # the form still shows what was typed
    assert wrong.texts == {"lid": "smart", "numd": "0"} and wrong.error


def test_the_form_writes_back_the_line_a_user_would_type(catalogue: Catalogue) -> None:
    defn = catalogue.get("get-log-page")
    form = {"nsid": "4294967295", "lid": "smart", "lsp": "0", "rae": "0", "numd": "128", "csi": "nvm"}
    assert line_of(defn, form) == "get-log-page lid=smart numd=128"  # defaults left out, lid always said
    assert line_of(defn, {**form, "lid": "2", "numd": "0x80"}) == "get-log-page lid=smart numd=0x80"
    assert line_of(defn, {**form, "numd": "0"}) == "get-log-page lid=smart numd=0"  # wrong: shown as typed
    assert line_of(catalogue.get("smart-log"), {"lid": "smart", "numd": "128"}) == "smart-log"  # preset's own


def test_the_line_completes_ids_field_names_and_value_names(catalogue: Catalogue) -> None:
    assert complete_line(catalogue, "get-fea") == "get-features"
    assert complete_line(catalogue, "get-features f") == "get-features fid="
    assert complete_line(catalogue, "get-features fid=temp") == "get-features fid=temperature-threshold"
    assert complete_line(catalogue, "get-log-page lid=smart n") == "get-log-page lid=smart nsid="
    assert complete_line(catalogue, "get-log-page nsid=1 n") == "get-log-page nsid=1 numd="  # given: skipped
    assert complete_line(catalogue, "get-log-page ") is None
    assert complete_line(catalogue, "no-such-command f") is None


@pytest.mark.parametrize(
    ("query", "first", "also"),
    [
        ("smart", "smart-log", "get-log-page lid=smart"),
        ("temperature", "get-features fid=temperature-threshold", "set-features fid=temperature-threshold"),
        ("zone report", "zone-mgmt-recv", "zone-mgmt-recv zra=report-zones"),
        ("write", "write", "write-uncorrectable"),
        ("zmr", "zone-mgmt-recv", "zone-mgmt-recv"),  # an alias
        ("self-test results", "get-log-page", "get-log-page"),  # help text
    ],
)
def test_the_search_finds_commands_by_what_they_do(
    catalogue: Catalogue, query: str, first: str, also: str
) -> None:
    keys = [m.key for m in search(catalogue, query)]
    assert keys[0] == first
    assert also in keys
