"""The response shapes of the published CAMARA definitions (docs/camara-reference.md: KYC
Match 0.4, SIM Swap 2.1, Age Verification 0.2, Tenure 0.2, Number Verification 2.1), written
out as JSON Schema so our answers are checked against CAMARA's contract, not against our own
Pydantic models."""

from __future__ import annotations

from typing import Any

import jsonschema

_MATCH = {"type": "string", "enum": ["true", "false", "not_available"]}
_SCORE = {"type": "integer", "minimum": 0, "maximum": 99}
_SCORED = [
    "name", "givenName", "familyName", "nameKanaHankaku", "nameKanaZenkaku", "middleNames",
    "familyNameAtBirth", "address", "streetName", "streetNumber", "region", "locality", "email",
    "cityOfBirth",
]  # fmt: skip
_UNSCORED = [
    "idDocument", "idDocumentType", "idDocumentExpiryDate", "postalCode", "country",
    "houseNumberExtension", "birthdate", "gender", "countryOfBirth", "nationality",
]  # fmt: skip

SCHEMAS: dict[str, dict[str, Any]] = {
    "KYC_MatchResponse": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{f"{f}Match": _MATCH for f in _SCORED + _UNSCORED},
            **{f"{f}MatchScore": _SCORE for f in _SCORED},
        },
    },
    "SimSwapInfo": {
        "type": "object",
        "required": ["latestSimChange"],
        "properties": {
            "latestSimChange": {"type": ["string", "null"], "format": "date-time"},
            "monitoredPeriod": {"type": "integer"},
        },
    },
    "CheckSimSwapInfo": {
        "type": "object",
        "required": ["swapped"],
        "properties": {"swapped": {"type": "boolean"}},
    },
    "VerifyResponseBody": {
        "type": "object",
        "required": ["ageCheck"],
        "properties": {
            "ageCheck": _MATCH,
            "verifiedStatus": {"type": "boolean"},
            "identityMatchScore": {"type": "integer", "minimum": 0, "maximum": 100},
            "contentLock": _MATCH,
            "parentalControl": _MATCH,
        },
    },
    "TenureInfo": {
        "type": "object",
        "required": ["tenureDateCheck"],
        "properties": {
            "tenureDateCheck": {"type": "boolean"},
            "contractType": {"type": "string", "enum": ["PAYG", "PAYM", "Business"]},
        },
    },
    "NumberVerificationMatchResponse": {
        "type": "object",
        "required": ["devicePhoneNumberVerified"],
        "properties": {"devicePhoneNumberVerified": {"type": "boolean"}},
    },
    "ErrorInfo": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "code": {"type": "string", "maxLength": 96},
            "message": {"type": "string", "maxLength": 512},
        },
    },
}


def assert_matches(name: str, body: object) -> None:
    jsonschema.validate(body, SCHEMAS[name], format_checker=jsonschema.FormatChecker())
    if name == "KYC_MatchResponse":
        assert isinstance(body, dict)
        for key in body:  # a score only beside its "false"
            if key.endswith("MatchScore"):
                assert body[key.removesuffix("Score")] == "false", key
