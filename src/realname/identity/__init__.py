"""Identity documents and names: parsing, validation, normalisation, masking. Pure and fast."""

from realname.identity.documents import DocumentType, ParsedDocument, detect_type, parse_document
from realname.identity.errors import DocumentError, DocumentErrorCode, message_for
from realname.identity.names import mask_document_number, mask_name, normalize_name
from realname.identity.resident_id import (
    ResidentId,
    Sex,
    parse_resident_id,
    resident_id_error,
    validate_resident_ids,
)

__all__ = [
    "DocumentError",
    "DocumentErrorCode",
    "DocumentType",
    "ParsedDocument",
    "ResidentId",
    "Sex",
    "detect_type",
    "mask_document_number",
    "mask_name",
    "message_for",
    "normalize_name",
    "parse_document",
    "parse_resident_id",
    "resident_id_error",
    "validate_resident_ids",
]
