"""Request bodies have strict types: a bool or a numeric string is not a number, a number or
"yes" is not a bool. Only what JSON cannot carry natively is read from text (enum values,
ISO 8601 dates and instants)."""

from __future__ import annotations

from typing import Any

from pydantic import Strict

from realname.registry.schemas import RequestModel
from tests.api.conftest import Api, person_json
from tests.api.test_operator_api import assert_error


def _request_models() -> dict[str, type[RequestModel]]:
    found: dict[str, type[RequestModel]] = {}
    pending: list[type[RequestModel]] = [RequestModel]
    while pending:
        model = pending.pop()
        for sub in model.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def test_every_body_the_api_reads_is_a_strict_request_model(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    schemas: dict[str, Any] = spec["components"]["schemas"]
    read: set[str] = set()
    for operations in spec["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                read.add(ref.rsplit("/", 1)[1])
    # ... and every model nested in one of them.
    pending = list(read)
    while pending:
        text = str(schemas[pending.pop()])
        for name in schemas:
            nested = f"'#/components/schemas/{name}'" in text and "properties" in schemas[name]
            if nested and name not in read:
                read.add(name)
                pending.append(name)
    assert {"RegistrationIn", "PersonIn", "DocumentIn", "KycMatchRequest"} <= read
    models = _request_models()
    assert not read - set(models), f"bodies not derived from RequestModel: {read - set(models)}"
    for name in read:
        assert models[name].model_config.get("strict") is True, name
        assert models[name].model_config.get("extra") == "forbid", name
        for field_name, field in models[name].model_fields.items():
            # JSON Schema counts 2.0 as an integer; a strict `int` would refuse it.
            if field.annotation in (int, int | None):
                assert Strict(False) in field.metadata, f"{name}.{field_name}: use JsonInt"


def _register(api: Api, index: int, **changes: object) -> Any:
    return api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[index], **changes)},
        headers=api.headers("clerk"),
    )


def test_a_face_score_must_be_a_number(api: Api) -> None:
    for wrong in (True, False, "0.9", "1", [0.9], {"value": 0.9}):
        body = assert_error(_register(api, 7, face_score=wrong), 400, "INVALID_ARGUMENT")
        assert "face_score" in str(body["message"])
    assert _register(api, 7, face_score=0.93).status_code == 201
    assert _register(api, 7, face_score=1).status_code == 201  # an integer is a number


def test_text_fields_enums_and_dates_keep_their_json_forms(api: Api) -> None:
    person = api.people[8]
    assert_error(_register(api, 8, name=12345), 400, "INVALID_ARGUMENT")
    assert_error(_register(api, 8, entry_method=1), 400, "INVALID_ARGUMENT")
    document = {"number": int(person.document_number[:17]), "type": "resident_id"}
    assert_error(_register(api, 8, document=document), 400, "INVALID_ARGUMENT")
    ok = _register(api, 8, document={"number": person.document_number, "type": "resident_id"})
    assert ok.status_code == 201, ok.text


def test_ids_and_flags_in_bodies_are_not_read_from_text(api: Api) -> None:
    kit = {"msisdn": "+8613800999001", "iccid": "89860000000000999001", "imsi": "460000000999001"}
    for channel in ("1", True, 1.5):
        response = api.client.post(
            "/v1/stock",
            json={"channel_id": channel, "kits": [kit]},
            headers=api.headers("admin"),
        )
        assert_error(response, 400, "INVALID_ARGUMENT")
    for flag in ("true", 1, "yes"):
        response = api.client.post(
            f"/v1/channels/{api.own_channel_id}/stock-returns",
            json={"msisdns": [api.free_numbers[0]], "write_off": flag},
            headers=api.headers("admin"),
        )
        assert_error(response, 400, "INVALID_ARGUMENT")
