"""The registry's announcements turned into outbox rows, in the transaction that made them.

The registry decides that a subscriber must be told something (a re-verification is due) but
imports no messaging; the composition root hands it one of these tellers, which queue the
SMS on the same session, so the message exists if and only if the change does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from realname.messaging.service import enqueue
from realname.messaging.texts import REVERIFICATION
from realname.policy.schema import Policy
from realname.registry.reverification import ReverificationAsked


def reverification_sms(session: Session, policy: Policy) -> Callable[[ReverificationAsked], None]:
    """Tell the subscriber the deadline, in the policy's language and local time; the dedupe
    key (line and deadline) makes a re-run queue nothing."""
    language = "zh" if policy.jurisdiction == "CN" else "en"
    offset = timedelta(hours=policy.risk.local_utc_offset_hours)

    def tell(asked: ReverificationAsked) -> None:
        local = asked.deadline + offset
        enqueue(
            session,
            dedupe_key=f"reverify:{asked.line_id}:{asked.deadline.isoformat()}",
            enterprise_id=asked.enterprise_id,
            line_id=asked.line_id,
            destination=asked.msisdn,
            kind="reverification",
            body=REVERIFICATION[language].format(deadline=f"{local:%Y-%m-%d %H:%M}"),
            at=asked.at,
        )

    return tell
