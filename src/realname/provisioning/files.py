"""Read a provisioning file (YAML or CSV) into a `Document`, each row with its line number.

YAML holds any mix of enterprises, blocks, channels (nested under their enterprise and under
their parent channel, or flat with `enterprise:` and `parent:`) and clerks. A CSV holds one
kind of row, named by its header: a `region` column makes it channels, a `channel` column
clerks, a `prefix` or `first` column blocks, otherwise enterprises. docs/provisioning.md has
the formats with examples.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from realname.provisioning.document import (
    BlockSpec,
    ChannelSpec,
    ClerkSpec,
    Document,
    EnterpriseSpec,
)
from realname.provisioning.errors import FileErrors, ProvisioningError, ProvisioningErrorCode

C = ProvisioningErrorCode
LINE = "__line__"
ENTERPRISE_FIELDS = {
    "code",
    "name",
    "kind",
    "host",
    "licence",
    "licence_status",
    "licence_since",
    "licence_no",
    "provinces",
    "blocks",
    "channels",
}
CHANNEL_FIELDS = {"enterprise", "code", "name", "kind", "region", "parent", "channels", "clerks"}
CLERK_FIELDS = {"enterprise", "channel", "code", "name"}
BLOCK_FIELDS = {"enterprise", "prefix", "first", "last"}
CSV_COLUMNS = {
    "enterprises": ENTERPRISE_FIELDS - {"blocks", "channels", "licence"},
    "blocks": BLOCK_FIELDS,
    "channels": CHANNEL_FIELDS - {"channels", "clerks"},
    "clerks": CLERK_FIELDS,
}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that remembers the line each mapping starts on."""


def _mapping_with_line(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)
    mapping[LINE] = node.start_mark.line + 1
    return mapping


def _timestamp_as_text(loader: Any, node: yaml.ScalarNode) -> str:
    """Dates stay text here and are read by `_Reader._date`, which names the line: PyYAML's own
    timestamp constructor raises a bare ValueError on `2030-13-45` (a traceback, no line)."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def load_file(path: Path) -> Document:
    """The document in the file, or FileErrors listing every row that cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FileErrors([(0, ProvisioningError(C.FILE_INVALID, type(error).__name__))]) from None
    if path.suffix.lower() == ".csv":
        return load_csv(text)
    return load_yaml(text)


def load_yaml(text: str) -> Document:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise FileErrors([(line, ProvisioningError(C.FILE_INVALID, "not valid YAML"))]) from None
    reader = _Reader()
    if not isinstance(data, dict):
        reader.refuse(1, "the file must be a mapping with enterprises:, blocks:, channels: …")
        raise FileErrors(reader.errors)
    reader.unknown(data, {"enterprises", "blocks", "channels", "clerks"})
    for item in reader.items(data, "enterprises"):
        reader.enterprise(item)
    for item in reader.items(data, "blocks"):
        reader.block(item, None)
    for item in reader.items(data, "channels"):
        reader.channel(item, None, None)
    for item in reader.items(data, "clerks"):
        reader.clerk(item, None, None)
    if reader.errors:
        raise FileErrors(reader.errors)
    return reader.document


def csv_entity(header: list[str]) -> str | None:
    """Which rows a CSV holds, from its header (docs/provisioning.md)."""
    columns = set(header)
    if "region" in columns:
        return "channels"
    if "channel" in columns:
        return "clerks"
    if columns & {"prefix", "first"}:
        return "blocks"
    if {"code", "kind"} <= columns:
        return "enterprises"
    return None


def load_csv(text: str) -> Document:
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    entity = csv_entity(header)
    reader = _Reader()
    if entity is None:
        reader.refuse(1, "unknown header: see docs/provisioning.md for the columns")
        raise FileErrors(reader.errors)
    extra = set(header) - CSV_COLUMNS[entity]
    if extra:
        reader.refuse(1, f"unknown column(s) for {entity}: {', '.join(sorted(extra))}")
        raise FileErrors(reader.errors)
    for values in rows:
        if not any(v.strip() for v in values):
            continue
        line = rows.line_num
        if len(values) != len(header):
            reader.refuse(line, f"{len(values)} values for {len(header)} columns")
            continue
        item: dict[str, Any] = {
            k: v.strip() for k, v in zip(header, values, strict=True) if v.strip()
        }
        item[LINE] = line
        if entity == "enterprises":
            if "provinces" in item:
                item["provinces"] = item["provinces"].replace(";", " ").split()
            reader.enterprise(item)
        elif entity == "blocks":
            reader.block(item, None)
        elif entity == "channels":
            reader.channel(item, None, None)
        else:
            reader.clerk(item, None, None)
    if reader.errors:
        raise FileErrors(reader.errors)
    return reader.document


class _Reader:
    def __init__(self) -> None:
        self.document = Document()
        self.errors: list[tuple[int, ProvisioningError]] = []

    def refuse(self, line: int, detail: str) -> None:
        self.errors.append((line, ProvisioningError(C.FIELD_INVALID, detail)))

    def items(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.refuse(int(data.get(LINE, 0)), f"{key}: a list")
            return []
        good = []
        for item in value:
            if isinstance(item, dict):
                good.append(item)
            elif key == "blocks" and isinstance(item, str | int):
                good.append({"prefix": str(item), LINE: data.get(LINE, 0)})
            else:
                self.refuse(int(data.get(LINE, 0)), f"{key}: each entry a mapping")
        return good

    def unknown(self, item: dict[str, Any], allowed: set[str]) -> bool:
        extra = sorted(str(k) for k in item if k != LINE and k not in allowed)
        if extra:
            self.refuse(item.get(LINE, 0), f"unknown field(s): {', '.join(extra)}")
        return bool(extra)

    def text(self, item: dict[str, Any], key: str, required: bool = True) -> str | None:
        value = item.get(key)
        if value is None or value == "":
            if required:
                self.refuse(item.get(LINE, 0), f"{key}: required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.refuse(item.get(LINE, 0), f"{key}: text")
            return None
        return str(value)

    def enterprise(self, item: dict[str, Any]) -> None:
        line = item.get(LINE, 0)
        if self.unknown(item, ENTERPRISE_FIELDS):
            return
        code, name, kind = (self.text(item, k) for k in ("code", "name", "kind"))
        status, since = item.get("licence_status"), item.get("licence_since")
        licence = item.get("licence")
        if isinstance(licence, dict):
            status, since = licence.get("status", status), licence.get("since", since)
        elif licence is not None:
            status = licence
        since_date = self._date(line, since, "licence_since")
        provinces = item.get("provinces") or []
        if isinstance(provinces, str | int):
            provinces = [provinces]
        if not isinstance(provinces, list):
            self.refuse(line, "provinces: a list of two-digit codes")
            return
        if code is None or name is None or kind is None:
            return
        self.document.enterprises.append(
            EnterpriseSpec(
                code=code,
                name=name,
                kind=kind.lower(),
                host=self.text(item, "host", required=False),
                licence_status=str(status or "official").lower(),
                licence_since=since_date,
                licence_no=self.text(item, "licence_no", required=False),
                provinces=tuple(_province(p) for p in provinces),
                line=line,
            )
        )
        for block in self.items(item, "blocks"):
            self.block(block, code)
        for channel in self.items(item, "channels"):
            self.channel(channel, code, None)

    def block(self, item: dict[str, Any], enterprise: str | None) -> None:
        if self.unknown(item, BLOCK_FIELDS):
            return
        owner = enterprise or self.text(item, "enterprise")
        if owner is None:
            return
        self.document.blocks.append(
            BlockSpec(
                enterprise=owner,
                prefix=self.text(item, "prefix", required=False),
                first=self.text(item, "first", required=False),
                last=self.text(item, "last", required=False),
                line=item.get(LINE, 0),
            )
        )

    def channel(self, item: dict[str, Any], enterprise: str | None, parent: str | None) -> None:
        if self.unknown(item, CHANNEL_FIELDS):
            return
        owner = enterprise or self.text(item, "enterprise")
        code, name, kind, region = (self.text(item, k) for k in ("code", "name", "kind", "region"))
        if None in (owner, code, name, kind, region):
            return
        assert owner and code and name and kind and region
        self.document.channels.append(
            ChannelSpec(
                enterprise=owner,
                code=code,
                name=name,
                kind=kind.lower(),
                region=region,
                parent=parent or self.text(item, "parent", required=False),
                line=item.get(LINE, 0),
            )
        )
        for sub in self.items(item, "channels"):
            self.channel(sub, owner, code)
        for clerk in self.items(item, "clerks"):
            self.clerk(clerk, owner, code)

    def clerk(self, item: dict[str, Any], enterprise: str | None, channel: str | None) -> None:
        if self.unknown(item, CLERK_FIELDS):
            return
        owner = enterprise or self.text(item, "enterprise")
        at = channel or self.text(item, "channel")
        code, name = self.text(item, "code"), self.text(item, "name")
        if None in (owner, at, code, name):
            return
        assert owner and at and code and name
        self.document.clerks.append(
            ClerkSpec(enterprise=owner, channel=at, code=code, name=name, line=item.get(LINE, 0))
        )

    def _date(self, line: int, value: object, key: str) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.refuse(line, f"{key}: a date, YYYY-MM-DD")
            return None


def _province(value: object) -> str:
    text = str(value).strip()
    return text.zfill(2) if text.isdigit() else text
