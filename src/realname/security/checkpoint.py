"""Signed checkpoints of the audit chains, after Certificate Transparency's signed tree heads.

A checkpoint records, for every chain, its length and the hash of its last entry, a root
(SHA-256 over that list), the total, the high-water marks of the append-only tables (the
highest id and the row count below it), and the instant; it is signed with Ed25519 under a
key that lives outside the database, and appended as one JSON line to a file that lives
outside it too (`realname audit checkpoint`, from cron or the daily job).

Someone who can rewrite the database can delete the newest entries and rewind the heads, or
rebuild a chain from some point on; with the MAC key they could even make it verify. They
cannot make it agree with a checkpoint signed before: `realname check --checkpoint FILE`
reports a chain shorter than a checkpoint (truncation), a different hash at a checkpointed
position (rewrite), and an append-only table that lost rows below a checkpointed mark.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from realname.security.audit import ChainScan, canonical_json
from realname.security.audit_keys import AuditKeys
from realname.security.repository import AuditRepository
from realname.security.vault import VaultError

VERSION = 1


class CheckpointError(Exception):
    """A checkpoint cannot be made or read; the message is safe to print."""


@dataclass(frozen=True)
class Checkpoint:
    at: datetime
    chains: dict[int, tuple[int, bytes]]  # chain -> (length, hash of the last entry)
    tables: dict[str, tuple[int, int]]  # append-only table -> (highest id, rows up to it)

    @property
    def size(self) -> int:
        return sum(length for length, _ in self.chains.values())

    @property
    def root(self) -> bytes:
        listing = [[c, n, h.hex()] for c, (n, h) in sorted(self.chains.items())]
        return hashlib.sha256(canonical_json(listing).encode()).digest()

    def payload(self, key_id: str) -> dict[str, Any]:
        return {
            "v": VERSION,
            "kid": key_id,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "size": self.size,
            "root": self.root.hex(),
            "chains": [[c, n, h.hex()] for c, (n, h) in sorted(self.chains.items())],
            "tables": {t: [m, n] for t, (m, n) in sorted(self.tables.items())},
        }


def current_checkpoint(
    session: Session, at: datetime, tables: Mapping[str, tuple[int, int]]
) -> Checkpoint:
    """The chains as they stand, from their heads. Each head must agree with its last entry
    (the full verification is `realname check`); a disagreeing head is refused, so a
    checkpoint never blesses a chain that is visibly broken."""
    repository = AuditRepository(session)
    chains: dict[int, tuple[int, bytes]] = {}
    for chain, head in sorted(repository.heads().items()):
        if head.position == 0:
            continue
        last = repository.last_entry(chain)
        if last is None or (last.position, last.hash) != (head.position, head.head_hash):
            raise CheckpointError(
                f"audit chain {chain}: its head does not match its last entry; run "
                "`realname check` before signing a checkpoint"
            )
        chains[chain] = (head.position, bytes(head.head_hash))
    return Checkpoint(at, chains, dict(tables))


def signed_line(checkpoint: Checkpoint, keys: AuditKeys) -> str:
    """The checkpoint as one signed JSON line."""
    if keys.signing_active is None:
        raise CheckpointError("no checkpoint signing key is configured")
    payload = checkpoint.payload(keys.signing_active)
    _kid, signature = keys.sign(canonical_json(payload).encode())
    return canonical_json(payload | {"sig": base64.b64encode(signature).decode("ascii")})


def append_checkpoint(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()


@dataclass(frozen=True)
class ReadCheckpoint:
    line_no: int
    checkpoint: Checkpoint | None
    problem: str | None = None


def read_checkpoints(path: Path, keys: AuditKeys) -> list[ReadCheckpoint]:
    """Every checkpoint in the file, each with its signature verified (a bad line is a problem,
    never silently skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint file {path}: {error.strerror}") from None
    found = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found.append(_parse(line_no, line, keys))
    return found


def _parse(line_no: int, line: str, keys: AuditKeys) -> ReadCheckpoint:
    try:
        document = json.loads(line)
        signature = base64.b64decode(document.pop("sig"), validate=True)
        kid = document["kid"]
        if document.get("v") != VERSION:
            return ReadCheckpoint(line_no, None, "unknown checkpoint version")
        if not isinstance(kid, str) or not keys.verify(
            kid, canonical_json(document).encode(), signature
        ):
            return ReadCheckpoint(line_no, None, "signature does not verify")
        checkpoint = Checkpoint(
            datetime.fromisoformat(document["at"]),
            {int(c): (int(n), bytes.fromhex(h)) for c, n, h in document["chains"]},
            {str(t): (int(m), int(n)) for t, (m, n) in document["tables"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, VaultError):
        return ReadCheckpoint(line_no, None, "not a readable checkpoint")
    if checkpoint.root.hex() != document.get("root"):
        return ReadCheckpoint(line_no, None, "root does not match its chains")
    return ReadCheckpoint(line_no, checkpoint)


def positions_of(checkpoints: Iterable[ReadCheckpoint]) -> set[tuple[int, int]]:
    """The (chain, position) pairs whose hashes a scan must collect."""
    return {
        (chain, length)
        for read in checkpoints
        if read.checkpoint is not None
        for chain, (length, _hash) in read.checkpoint.chains.items()
    }


def compare(checkpoint: Checkpoint, scan: ChainScan) -> list[str]:
    """How the chains now disagree with a verified checkpoint: truncations and rewrites."""
    problems = []
    last = scan.last or {}
    hashes = scan.at_positions or {}
    for chain, (length, head) in sorted(checkpoint.chains.items()):
        now = last.get(chain, (0, b""))[0]
        if now < length:
            problems.append(
                f"chain {chain} has {now} entries, the checkpoint signed {length} (truncated)"
            )
        elif hashes.get((chain, length)) != head:
            problems.append(f"chain {chain} at {length} differs from the checkpoint (rewritten)")
    return problems
