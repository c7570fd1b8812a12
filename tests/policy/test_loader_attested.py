"""`with_attested_chip_reads`: the preset as a file that takes a client's own chip-read claim
(the registration benchmark's server), everything else the preset's."""

from __future__ import annotations

from pathlib import Path

from realname.policy.loader import load_policy, with_attested_chip_reads


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
