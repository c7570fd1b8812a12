"""Real-name registration rules as typed data, jurisdiction presets, and pure checks.

Services ask this package *whether* something is allowed; they never hard-code a cap, an age
or a deadline, so a new jurisdiction or a regulator's notice is a data change.
"""

from realname.policy.checks import (
    PolicyViolation,
    age_in_years,
    check_age,
    check_caps,
    check_document,
    check_entry_method,
    check_face,
    evaluate_registration,
    violation_message,
)
from realname.policy.errors import PolicyError
from realname.policy.loader import available_presets, load_policy
from realname.policy.schema import (
    BackfillPhase,
    BackfillStep,
    CapScope,
    ChannelKind,
    EntryMethod,
    LineCap,
    Policy,
)

__all__ = [
    "BackfillPhase",
    "BackfillStep",
    "CapScope",
    "ChannelKind",
    "EntryMethod",
    "LineCap",
    "Policy",
    "PolicyError",
    "PolicyViolation",
    "age_in_years",
    "available_presets",
    "check_age",
    "check_caps",
    "check_document",
    "check_entry_method",
    "check_face",
    "evaluate_registration",
    "load_policy",
    "violation_message",
]
