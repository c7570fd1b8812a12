"""The Parquet file drop: a feed batch as a file, for bulk back-loads (a snapshot of millions
of lines moves better as files than as HTTP requests).

One file per batch, `<ENTERPRISE>-<number, 9 digits>.parquet`: one row per item (the owner
flattened into `owner_doc_type`, `owner_sealed`), and in the file's metadata the rest of the
signed body, the key id and the signature. Reading a file rebuilds the very body that was
signed, so the platform checks a dropped batch exactly as a pushed one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from realname.national.feeds.envelope import Envelope

META_KEY = b"realname.feed"
SCHEMA = pa.schema(
    [
        ("msisdn", pa.string()),
        ("seq", pa.int64()),
        ("op", pa.string()),
        ("state", pa.string()),
        ("at", pa.string()),
        ("activated_at", pa.string()),
        ("owner_since", pa.string()),
        ("channel_kind", pa.string()),
        ("province", pa.string()),
        ("owner_doc_type", pa.string()),
        ("owner_sealed", pa.string()),
    ]
)
_PLAIN = ("msisdn", "seq", "op", "state", "at", "activated_at", "owner_since", "channel_kind",
          "province")  # fmt: skip


def file_name(enterprise: str, number: int) -> str:
    return f"{enterprise}-{number:09d}.parquet"


def write_batch(envelope: Envelope, directory: str | os.PathLike[str]) -> Path:
    """Write one signed batch; the file appears whole (written aside, then renamed)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    items = envelope.items
    columns: dict[str, list[Any]] = {name: [item[name] for item in items] for name in _PLAIN}
    columns["owner_doc_type"] = [i["owner"]["doc_type"] if i["owner"] else None for i in items]
    columns["owner_sealed"] = [i["owner"]["sealed"] if i["owner"] else None for i in items]
    header = {k: v for k, v in envelope.body.items() if k != "items"}
    meta = orjson.dumps(
        {"header": header, "key_id": envelope.key_id, "signature": envelope.as_json()["signature"]}
    )
    table = pa.Table.from_pydict(columns, schema=SCHEMA).replace_schema_metadata({META_KEY: meta})
    target = folder / file_name(envelope.enterprise, envelope.number)
    partial = target.with_suffix(".partial")
    pq.write_table(table, partial)
    os.replace(partial, target)
    return target


def read_batch(path: str | os.PathLike[str]) -> Envelope | None:
    """The envelope a dropped file carries; None when it is not one of ours."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    meta = (table.schema.metadata or {}).get(META_KEY)
    if meta is None:
        return None
    try:
        document = orjson.loads(meta)
        header = dict(document["header"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    rows = table.to_pylist()
    items = []
    for row in rows:
        item = {name: row.get(name) for name in _PLAIN}
        doc_type, sealed = row.get("owner_doc_type"), row.get("owner_sealed")
        item["owner"] = None if doc_type is None else {"doc_type": doc_type, "sealed": sealed}
        items.append(item)
    header["items"] = items
    return Envelope.from_json(
        {"body": header, "key_id": document.get("key_id"), "signature": document.get("signature")}
    )


def pending_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The dropped files not yet taken, in enterprise and batch order."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if p.is_file())
