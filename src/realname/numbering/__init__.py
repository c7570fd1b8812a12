"""Phone numbers (MSISDNs) and the number blocks operators own."""

from realname.numbering.blocks import NumberBlock
from realname.numbering.errors import NumberError, NumberErrorCode
from realname.numbering.msisdn import Msisdn, carrier_of, mask_msisdn, parse_msisdn

__all__ = [
    "Msisdn",
    "NumberBlock",
    "NumberError",
    "NumberErrorCode",
    "carrier_of",
    "mask_msisdn",
    "parse_msisdn",
]
