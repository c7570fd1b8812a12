"""`with_attested_chip_reads`: the preset as a file that takes a client's own chip-read claim
(the registration benchmark's server), everything else the preset's."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from realname.policy import PolicyError
from realname.policy.loader import load_policy, with_attested_chip_reads
from realname.policy.schema import CardReadRules, Policy


def test_the_attested_file_is_the_preset_but_for_the_card_readers_rule(tmp_path: Path) -> None:
    china = load_policy("china")
    assert china.card_reads.chip_read_needs_reader is True
    path = with_attested_chip_reads("china", tmp_path)
    attested = load_policy(path)
    assert attested.card_reads.chip_read_needs_reader is False
    rules = china.card_reads.model_copy(update={"chip_read_needs_reader": False})
    assert attested == china.model_copy(update={"card_reads": rules})
    again = with_attested_chip_reads(str(path), tmp_path / ".." / tmp_path.name)
    assert load_policy(again) == attested


CHINA = (resources.files("realname.policy") / "presets" / "china.toml").read_text("utf-8")
WITH_KEY = "[card_reads]\nttl_seconds = 300\nchip_read_needs_reader = true\n"


def _china_as(tmp_path: Path, card_reads: str) -> Path:
    """China's preset as a file whose `[card_reads]` table is `card_reads` ("" for none)."""
    assert WITH_KEY in CHINA, "fixture drifted: china.toml's [card_reads] table changed"
    path = tmp_path / "source" / "variant.toml"
    path.parent.mkdir()
    path.write_text(CHINA.replace(WITH_KEY, card_reads), encoding="utf-8")
    return path


def _attested_china(ttl_seconds: int = 300) -> Policy:
    china = load_policy("china")
    rules = CardReadRules(ttl_seconds=ttl_seconds, chip_read_needs_reader=False)
    return china.model_copy(update={"card_reads": rules})


@pytest.mark.parametrize(
    ("card_reads", "ttl_seconds"),
    [
        pytest.param(WITH_KEY, 300, id="key-true"),
        pytest.param("[card_reads]\nttl_seconds = 120\n", 120, id="table-without-key"),
        pytest.param("[card_reads] # the reader's rules\nttl_seconds = 90\n", 90, id="commented"),
        pytest.param("", 300, id="no-table"),
    ],
)
def test_every_shape_of_file_gets_the_key_once_in_its_own_table(
    tmp_path: Path, card_reads: str, ttl_seconds: int
) -> None:
    """A file with the key, with the table but not the key (once a second `[card_reads]`
    header was appended: invalid TOML), or with no table: the rest of the file kept as is."""
    source = _china_as(tmp_path, card_reads)
    path = with_attested_chip_reads(str(source), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.count("[card_reads]") == 1
    assert text.count("chip_read_needs_reader") == 1
    assert load_policy(path) == _attested_china(ttl_seconds)


def test_the_table_as_the_last_line_without_a_newline(tmp_path: Path) -> None:
    source = _china_as(tmp_path, "")
    text = source.read_text(encoding="utf-8").rstrip("\n")
    source.write_text(text + "\n[card_reads]", encoding="utf-8")
    path = with_attested_chip_reads(str(source), tmp_path)
    assert load_policy(path) == _attested_china()


def test_a_shape_it_cannot_edit_is_refused_not_guessed(tmp_path: Path) -> None:
    """An inline table: no line to edit. The operator is told what to set, rather than given
    a file that says something else."""
    source = _china_as(tmp_path, "")
    text = source.read_text(encoding="utf-8")
    source.write_text("card_reads = { ttl_seconds = 300 }\n" + text, encoding="utf-8")
    assert load_policy(source) == load_policy("china").model_copy(
        update={"card_reads": CardReadRules(ttl_seconds=300, chip_read_needs_reader=False)}
    )
    with pytest.raises(PolicyError) as raised:
        with_attested_chip_reads(str(source), tmp_path)
    assert raised.value.fields == ("card_reads.chip_read_needs_reader",)
