"""Request and response bodies of the CAMARA APIs, with CAMARA's exact field names, patterns
and enums (docs/camara-reference.md), so existing CAMARA clients work unchanged."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from realname.registry.schemas import IsoDate, JsonInt, Lax, RequestModel

PhoneNumber = Annotated[
    str,
    Field(
        pattern=r"^\+[1-9][0-9]{4,14}$",
        max_length=16,
        description="E.164 with the leading +; with a three-legged token leave it out",
        examples=["+8613800138000"],
    ),
]
HashedPhoneNumber = Annotated[
    str,
    Field(
        pattern=r"^[a-fA-F0-9]{64}$",
        max_length=64,
        description="SHA-256 (hex) of the E.164 number, + included",
    ),
]
MatchResult = Literal["true", "false", "not_available"]
MatchScore = Annotated[int, Field(ge=0, le=99)]
Text = Annotated[str, Field(min_length=1, max_length=256)]
_STRICT = ConfigDict(extra="forbid")


class IdDocumentType(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID_CARD = "national_id_card"
    RESIDENCE_PERMIT = "residence_permit"
    DIPLOMATIC_ID = "diplomatic_id"
    DRIVER_LICENCE = "driver_licence"
    SOCIAL_SECURITY_ID = "social_security_id"
    OTHER = "other"


class Gender(StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"
    OTHER = "OTHER"


class KycMatchRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,
            "examples": [
                {
                    "phoneNumber": "+8613800138000",
                    "idDocument": "11010519491231002X",
                    "name": "张三",
                    "birthdate": "1949-12-31",
                }
            ],
        },
    )

    phoneNumber: PhoneNumber | None = None
    idDocument: Text | None = None
    idDocumentType: Annotated[IdDocumentType, Lax] | None = None
    idDocumentExpiryDate: IsoDate | None = None
    name: Text | None = None
    givenName: Text | None = None
    familyName: Text | None = None
    nameKanaHankaku: Text | None = None
    nameKanaZenkaku: Text | None = None
    middleNames: Text | None = None
    familyNameAtBirth: Text | None = None
    address: Text | None = None
    streetName: Text | None = None
    streetNumber: Text | None = None
    postalCode: Text | None = None
    region: Text | None = None
    locality: Text | None = None
    country: Text | None = None
    houseNumberExtension: Text | None = None
    birthdate: IsoDate | None = None
    email: Text | None = None
    gender: Annotated[Gender, Lax] | None = None
    cityOfBirth: Text | None = None
    countryOfBirth: Text | None = None
    nationality: Text | None = None

    @model_validator(mode="after")
    def _something_to_match(self) -> KycMatchRequest:
        """The body declares `minProperties: 1`: `{}` asks nothing."""
        if not self.model_fields_set:
            raise ValueError("give at least one property")
        return self

    def claims(self) -> dict[str, object]:
        """The attributes to match, as strings, phoneNumber left out."""
        values = self.model_dump(mode="json", exclude_none=True)
        values.pop("phoneNumber", None)
        return values


class KycMatchResponse(BaseModel):
    """Only the attributes that were sent; a score only beside a "false" free-text match."""

    model_config = _STRICT

    idDocumentMatch: MatchResult | None = None
    idDocumentTypeMatch: MatchResult | None = None
    idDocumentExpiryDateMatch: MatchResult | None = None
    nameMatch: MatchResult | None = None
    nameMatchScore: MatchScore | None = None
    givenNameMatch: MatchResult | None = None
    givenNameMatchScore: MatchScore | None = None
    familyNameMatch: MatchResult | None = None
    familyNameMatchScore: MatchScore | None = None
    nameKanaHankakuMatch: MatchResult | None = None
    nameKanaHankakuMatchScore: MatchScore | None = None
    nameKanaZenkakuMatch: MatchResult | None = None
    nameKanaZenkakuMatchScore: MatchScore | None = None
    middleNamesMatch: MatchResult | None = None
    middleNamesMatchScore: MatchScore | None = None
    familyNameAtBirthMatch: MatchResult | None = None
    familyNameAtBirthMatchScore: MatchScore | None = None
    addressMatch: MatchResult | None = None
    addressMatchScore: MatchScore | None = None
    streetNameMatch: MatchResult | None = None
    streetNameMatchScore: MatchScore | None = None
    streetNumberMatch: MatchResult | None = None
    streetNumberMatchScore: MatchScore | None = None
    postalCodeMatch: MatchResult | None = None
    regionMatch: MatchResult | None = None
    regionMatchScore: MatchScore | None = None
    localityMatch: MatchResult | None = None
    localityMatchScore: MatchScore | None = None
    countryMatch: MatchResult | None = None
    houseNumberExtensionMatch: MatchResult | None = None
    birthdateMatch: MatchResult | None = None
    emailMatch: MatchResult | None = None
    emailMatchScore: MatchScore | None = None
    genderMatch: MatchResult | None = None
    cityOfBirthMatch: MatchResult | None = None
    cityOfBirthMatchScore: MatchScore | None = None
    countryOfBirthMatch: MatchResult | None = None
    nationalityMatch: MatchResult | None = None


class SimSwapDateRequest(RequestModel):
    phoneNumber: PhoneNumber | None = None


class SimSwapCheckRequest(RequestModel):
    phoneNumber: PhoneNumber | None = None
    maxAge: JsonInt = Field(
        default=240, ge=1, le=2400, description="Period in hours to be checked for SIM swap"
    )


class SimSwapInfo(BaseModel):
    latestSimChange: str | None = Field(
        description="RFC 3339 time of the latest SIM change, or null when it may not be told",
        examples=["2026-09-18T07:37:53.471Z"],
    )
    monitoredPeriod: int | None = Field(
        default=None, description="Days monitored, when latestSimChange is null"
    )


class CheckSimSwapInfo(BaseModel):
    swapped: bool


class AgeVerificationRequest(RequestModel):
    ageThreshold: JsonInt = Field(ge=0, le=120, examples=[18])
    phoneNumber: PhoneNumber | None = None
    idDocument: Text | None = None
    name: Text | None = None
    givenName: Text | None = None
    familyName: Text | None = None
    middleNames: Text | None = None
    familyNameAtBirth: Text | None = None
    birthdate: IsoDate | None = None
    email: Text | None = None
    includeContentLock: bool = False
    includeParentalControl: bool = False


class AgeVerificationResponse(BaseModel):
    ageCheck: MatchResult
    verifiedStatus: bool | None = None
    identityMatchScore: Annotated[int, Field(ge=0, le=100)] | None = None
    contentLock: MatchResult | None = None
    parentalControl: MatchResult | None = None


class TenureRequest(RequestModel):
    tenureDate: IsoDate = Field(examples=["2023-07-03"])
    phoneNumber: PhoneNumber | None = None


class TenureInfo(BaseModel):
    tenureDateCheck: bool
    contractType: Literal["PAYG", "PAYM", "Business"] | None = None


class NumberVerificationRequest(RequestModel):
    """Exactly one of phoneNumber and hashedPhoneNumber (SHA-256 hex of the E.164 number,
    with its +)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    # Absent, not null: CAMARA's schema has no null here, and exactly one must be present.
    phoneNumber: PhoneNumber | SkipJsonSchema[None] = None
    hashedPhoneNumber: HashedPhoneNumber | SkipJsonSchema[None] = Field(
        default=None,
        examples=["32f67ab4e4312618b09cd23ed8ce41b13e095fe52b73b2e8da8ef49830e50dba"],
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> NumberVerificationRequest:
        if (self.phoneNumber is None) == (self.hashedPhoneNumber is None):
            raise ValueError("give exactly one of phoneNumber and hashedPhoneNumber")
        return self


class NumberVerificationMatchResponse(BaseModel):
    devicePhoneNumberVerified: bool


class NumberVerificationShareResponse(BaseModel):
    devicePhoneNumber: str


class ConsentIn(RequestModel):
    """A subscriber's consent, captured by the operator (counter, app, SMS reply)."""

    relying_party_client_id: str = Field(min_length=1, max_length=64)
    apis: list[Literal["kyc-match", "sim-swap", "kyc-age-verification", "kyc-tenure"]] = Field(
        default_factory=list, description="Empty: every API the party may use"
    )
    expires_on: IsoDate | None = None


class ConsentOut(BaseModel):
    id: int
    line_id: int
    relying_party_id: int
    apis: list[str]
    expires_at: str | None
