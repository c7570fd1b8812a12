"""What the subscriber is told, in each language a policy speaks. Texts live with the outbox
that sends them, not with the domain that decides a message is due."""

from __future__ import annotations

REVERIFICATION = {
    "zh": (
        "【二次实名核验】因安全风险提示，请于{deadline}前携带本人有效身份证件到营业厅核验"
        "机主身份，逾期将暂停服务。"
    ),
    "en": (
        "For your security, please confirm you are this number's owner at a shop with your ID "
        "document before {deadline}; otherwise service will be suspended."
    ),
}
