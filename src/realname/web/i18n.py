"""The pages' words in zh-CN (the default) and English, and the locale's dates and numbers.

A message table rather than gettext catalogs: the pages have a few dozen short strings, both
languages live side by side in one place a reviewer reads at once, there is no compile step
between a fresh clone and a served page, and `tests/web/test_i18n.py` fails on a key missing
either language. Dates, numbers and percentages are formatted by Babel (CLDR) for the locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_BABEL = {"zh-CN": "zh_Hans_CN", "en": "en_GB"}

# key: (zh-CN, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("实名登记平台", "RealName"),
    "nav.skip": ("跳到正文", "Skip to content"),
    "nav.desk": ("营业厅前台", "Front desk"),
    "nav.console": ("企业控制台", "Enterprise console"),
    "nav.dashboard": ("监管看板", "Regulator dashboard"),
    "nav.logout": ("退出登录", "Sign out"),
    "nav.language": ("语言", "Language"),
    "nav.signed_in_as": ("当前用户", "Signed in as"),
    "lang.switch": ("English", "中文"),
    "login.title": ("工作人员登录", "Staff sign-in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": (
        "用户名或密码不正确，或账号已停用。请重新输入，或联系管理员。",
        "The user name or password is wrong, or the account is disabled. Try again, or ask "
        "your administrator.",
    ),
    "login.locked": (
        "登录失败次数过多，已暂时锁定。请稍后再试，或联系管理员。",
        "Too many failed sign-ins: locked for a while. Try again later, or ask your administrator.",
    ),
    "login.too_long": (
        "用户名最多 64 个字符，密码最多 200 个字符：请检查后重新输入。",
        "A user name has at most 64 characters and a password at most 200: check them and "
        "try again.",
    ),
    "login.expired": (
        "长时间未操作，会话已结束。请重新登录。",
        "Your session ended after a period without activity. Please sign in again.",
    ),
    "error.csrf": (
        "表单已过期（安全校验未通过）。请刷新页面后重新提交。",
        "The form has expired (security check failed). Reload the page and submit again.",
    ),
    "error.forbidden": (
        "此页面不对您的角色开放。请使用与您角色对应的页面。",
        "This page is not open to your role. Use the page for your role.",
    ),
    "error.title": ("无法完成", "Could not be done"),
    "error.form": (
        "表单缺少必填项或填写有误：请返回上一页检查后重新提交。",
        "The form is missing a field or has one filled in wrongly: go back, check it and "
        "submit again.",
    ),
    "error.not_found": (
        "没有这个页面。请从首页进入。",
        "There is no such page. Start from the home page.",
    ),
    "error.unexpected": (
        "系统内部错误，本次操作未完成。请稍后重试；如仍失败，请联系管理员。",
        "Something went wrong inside the system and this was not done. Try again shortly; "
        "if it fails again, tell your administrator.",
    ),
    "error.card": (
        "缺少身份证信息：请先读取身份证（或在允许处手工录入证件号码和姓名）。",
        "No ID card: read the card first (or, where allowed, type the number and the name).",
    ),
    "error.number": ("请输入有效的数字。", "Enter a valid number."),
    "done": ("已完成", "Done"),
    "role.clerk": ("营业员", "Clerk"),
    "role.enterprise_admin": ("企业管理员", "Enterprise administrator"),
    "role.regulator": ("监管人员", "Regulator"),
    # front desk
    "desk.title": ("营业厅前台", "Front desk"),
    "desk.channel": ("渠道", "Channel"),
    "desk.register": ("新用户登记入网", "Register a customer"),
    "desk.card": ("客户身份证", "The customer's ID card"),
    "desk.ending": ("按尾号查找号卡", "Find kits by the number's last digits"),
    "desk.search": ("查找", "Find"),
    "desk.shown": ("仅显示前", "Showing only the first"),
    # the card reader
    "card.read": ("读取身份证", "Read the card"),
    "card.read_help": (
        "将身份证放在本柜台的读卡器上，再点击“读取身份证”。",
        "Put the ID card on this counter's reader, then press “Read the card”.",
    ),
    "card.none_yet": ("尚未读卡。", "No card read yet."),
    "card.none": (
        "读卡器尚未读到身份证：请将身份证放在读卡器上后重试。",
        "The reader has not read a card: put the ID card on the reader and try again.",
    ),
    "card.read_done": ("已读卡：", "Card read:"),
    "card.until": ("有效至", "valid until"),
    "card.typed": ("手工录入（仅限允许手工录入的渠道）", "Type it in (only where allowed)"),
    "card.typed_help": (
        "手工录入按“手工录入”登记；营业厅等渠道不受理手工录入。",
        "Typed entry is registered as manual; halls and most channels refuse it.",
    ),
    "card.doc_type": ("证件类型", "Document type"),
    "card.doc_number": ("证件号码", "Document number"),
    "card.name": ("姓名", "Name"),
    "doc.resident_id": ("居民身份证", "Resident ID card"),
    "doc.residence_permit": ("港澳台居民居住证", "HK/Macao/Taiwan residence permit"),
    "doc.home_return_permit": ("港澳居民来往内地通行证", "Home-return permit"),
    "doc.taiwan_permit": ("台湾居民来往大陆通行证", "Taiwan compatriot permit"),
    "doc.passport": ("护照", "Passport"),
    "doc.permanent_residence": ("外国人永久居留身份证", "Permanent residence card"),
    "doc.military": ("军官证/士兵证", "Military ID"),
    "doc.organisation": ("统一社会信用代码", "Organisation code"),
    "desk.face": ("人脸比对分数 (0–1)", "Live face score (0–1)"),
    "desk.kit": ("选择本渠道库存号卡", "Choose a kit from this channel's stock"),
    "desk.no_stock": ("本渠道没有可售号卡。", "This channel has no kit in stock."),
    "desk.submit": ("登记并开通", "Register and activate"),
    "desk.registered": ("已登记开通：", "Registered and activated:"),
    "desk.refused": ("登记被拒绝：", "Registration refused:"),
    "desk.stock": ("本渠道库存", "This channel's stock"),
    "lookup.title": ("查询号码", "Look up a line"),
    "lookup.msisdn": ("手机号码", "Phone number"),
    "lookup.submit": ("查询", "Look up"),
    # a line
    "line.title": ("号码详情", "Line"),
    "line.msisdn": ("号码", "Number"),
    "line.state": ("状态", "State"),
    "line.owner": ("机主（已脱敏）", "Owner (masked)"),
    "line.document": ("证件", "Document"),
    "line.name": ("姓名", "Name"),
    "line.activated": ("开通时间", "Activated"),
    "line.barring": ("限制原因", "Barring"),
    "line.reverify": ("二次实名截止", "Re-verification due"),
    "line.history": ("历史", "History"),
    "line.after_sale": ("售后业务（机主本人在场）", "After-sale (owner present)"),
    "line.report_lost": ("挂失", "Report lost"),
    "line.replace_sim": ("补换卡", "Replace the SIM"),
    "line.iccid": ("新卡 ICCID", "New SIM's ICCID"),
    "line.imsi": ("新卡 IMSI", "New SIM's IMSI"),
    "line.owner_card": ("机主身份证", "The owner's ID card"),
    "line.transfer": ("过户", "Transfer"),
    "line.receiver_card": ("新机主身份证", "The new owner's ID card"),
    "line.cancel": ("销户", "Cancel the line"),
    "line.cancel_reason": ("销户原因", "Reason"),
    "line.reverify_answer": ("二次实名核验（机主在场）", "Re-verify the owner (present)"),
    "line.operation": ("业务", "Operation"),
    "line.backfill": ("老用户补登记（须证明持有号码）", "Back-fill (proof of holding the line)"),
    "line.send_code": ("向该号码发送验证码", "Send a one-time code to the line"),
    "line.code_sent": ("验证码已发送，有效期至", "Code sent; valid until"),
    "line.code": ("客户收到的 6 位验证码", "The 6-digit code the customer received"),
    "line.suspend": ("停机", "Suspend"),
    "line.resume": ("复机", "Resume"),
    "line.reveal": ("查看机主明文（记入审计）", "Reveal the owner (audited)"),
    "line.purpose": ("查看事由", "Purpose"),
    "line.revealed": ("机主明文（仅本次显示，已记入审计）", "Owner in clear (shown once, audited)"),
    # 一证通查 (public)
    "national.title": ("一证通查", "Lines in your name (一证通查)"),
    "national.intro": (
        "查询您的证件在各电信企业名下登记的手机号码。如有不是您办理的号码，可在线申诉。",
        "See the mobile lines registered to your ID at every operator, and dispute one "
        "that is not yours.",
    ),
    "national.ask": (
        "第一步：证件、姓名和您的一个手机号码",
        "Step 1: your ID, name and one of your numbers",
    ),
    "national.msisdn": ("您的手机号码", "One of your mobile numbers"),
    "national.msisdn_help": (
        "验证码将以短信发送到该号码：须为您本人名下、正在使用的号码。",
        "The code goes to this number by SMS: it must be one in your name that you use.",
    ),
    "national.send_code": ("获取验证码", "Send me a code"),
    "national.enter_code": ("第二步：输入短信验证码", "Step 2: the code from the SMS"),
    "national.code_sent": (
        "如信息无误，验证码已发送，有效期至",
        "If the details match, a code was sent; valid until",
    ),
    "national.code": ("验证码", "Code"),
    "national.show": ("查看名下号码", "Show my lines"),
    "national.your_lines": ("您名下的号码", "Lines in your name"),
    "national.answered_at": ("查询时间", "As of"),
    "national.active": ("在用", "in service"),
    "national.not_mine": ("不是我办理的？", "Not yours?"),
    "national.dispute": ("申诉", "Dispute"),
    "national.case": ("申诉进度", "Your dispute"),
    "national.case_opened": (
        "申诉已提交，请记下申诉编号，用于查询进度。",
        "Your dispute is open: keep its reference to follow it.",
    ),
    "national.reference": ("申诉编号", "Reference"),
    "national.enterprise": ("电信企业", "Operator"),
    "national.status": ("状态", "Status"),
    "national.status_open": ("已受理", "Open"),
    "national.status_traced": ("已核查", "Traced"),
    "national.status_acted": ("已处理", "Acted on"),
    "national.status_closed": ("已办结", "Closed"),
    "national.due": ("答复期限", "Answer due"),
    "national.overdue": ("已超期", "Overdue"),
    "national.follow": ("查询申诉进度", "Follow a dispute"),
    "national.follow_submit": ("查询", "Follow"),
    "national.no_case": ("没有该申诉编号。", "No dispute has that reference."),
    "national.again": ("重新查询", "Look up again"),
    # console
    "console.where": ("号卡在哪里", "Where is a kit"),
    "console.where_submit": ("查找", "Find"),
    "console.no_channel": ("不在任何渠道（已售出或已回收）", "In no channel (sold or returned)"),
    "console.title": ("企业控制台", "Enterprise console"),
    "console.stock": ("各渠道库存与库龄", "Stock by channel, with ageing"),
    "console.unsold": ("未售", "Unsold"),
    "console.oldest": ("最早入库", "Oldest stocked"),
    "console.older_than": ("库龄超过（天）", "Older than (days)"),
    "console.backfill": ("补登记进度", "Back-fill progress"),
    "console.deadline": ("截止日期", "Deadline"),
    "console.registered_share": ("已补登记比例", "Registered"),
    "console.projected": ("预计完成", "Projected completion"),
    "console.on_track": ("按期", "On track"),
    "console.behind": ("落后", "Behind"),
    "console.milestones": ("里程碑", "Milestones"),
    "console.risk": ("渠道风险", "Channel risk"),
    "console.score": ("风险分", "Score"),
    "console.signals": ("触发信号", "Signals tripped"),
    "console.suspend_reason": ("停止原因", "Reason"),
    "console.suspend": ("暂停渠道", "Suspend channel"),
    "console.resume": ("恢复渠道", "Resume channel"),
    "console.reverify": ("二次实名待办", "Re-verification queue"),
    "console.complaints": ("投诉", "Complaints"),
    "console.actions": ("未结监管措施", "Open enforcement actions"),
    "console.none": ("无", "None"),
    "console.flags": (
        "被投诉标记的号码（待二次实名核查）",
        "Lines flagged by complaints (to re-verify)",
    ),
    "console.disputes": ("一证通查申诉", "一证通查 disputes"),
    "console.disputes_link": (
        "查看针对本企业号码的一证通查申诉（期限与状态）",
        "The 一证通查 disputes of our lines (deadlines and status)",
    ),
    "disputes.title": ("一证通查申诉", "一证通查 disputes of our lines"),
    "disputes.intro": (
        "用户通过一证通查申诉“不是本人办理”的本企业号码：须在答复期限前核查并处理。",
        "Lines of ours that a person said are not theirs (一证通查): trace and act on each "
        "before its answer is due.",
    ),
    "disputes.unavailable": (
        "本实例未接入全国一证通查平台，暂无申诉数据。",
        "This instance is not the national platform: no disputes to show.",
    ),
    "disputes.with_closed": ("包括已办结的申诉", "Include closed disputes"),
    "disputes.open_only": ("仅显示未办结的申诉", "Open disputes only"),
    "disputes.opened": ("提交时间", "Opened"),
    "disputes.outcome": ("处理结果", "Outcome"),
    "disputes.where": ("处理方式", "Handled as"),
    "disputes.complaint": ("本平台投诉工单", "Complaint case"),
    "disputes.forwarded": (
        "已转至本企业系统（待回复处理情况）",
        "Forwarded to our own system (handling to post)",
    ),
    "disputes.status_open": ("已受理", "Open"),
    "disputes.status_traced": ("已核查", "Traced"),
    "disputes.status_acted": ("已处理", "Acted on"),
    "disputes.status_closed": ("已办结", "Closed"),
    "disputes.status_forwarded": ("已转办", "Forwarded"),
    "dash.lifted": ("已解除", "lifted"),
    # dashboard
    "dash.title": ("监管看板", "Regulator dashboard"),
    "dash.period": ("统计期", "Period"),
    "dash.enterprises": (
        "各企业合规情况（基础运营商与转售企业对照）",
        "Enterprises (MNOs and MVNOs side by side)",
    ),
    "dash.kind": ("类型", "Kind"),
    "dash.lines": ("在网号码", "Lines"),
    "dash.real_name_rate": ("实名率", "Real-name rate"),
    "dash.violation_rate": ("违规率", "Violation rate"),
    "dash.interval": ("95% 区间", "95 % interval"),
    "dash.inspected": ("暗访网点", "Outlets inspected"),
    "dash.complaints_10k": ("每万户投诉", "Complaints per 10k"),
    "dash.backfill": ("补登记", "Back-fill"),
    "dash.licence": ("许可状态", "Licence"),
    "dash.chart": ("违规率及 95% 置信区间", "Violation rate with 95 % interval"),
    "dash.ladder": ("执法阶梯", "Enforcement ladder"),
    "dash.action": ("措施", "Action"),
    "dash.status": ("状态", "Status"),
    "dash.decided": ("决定时间", "Decided"),
    "dash.deadline": ("期限", "Deadline"),
    "dash.consequences": ("后果", "Consequences"),
    "dash.escalate": ("升级执法措施", "Escalate"),
    "dash.enterprise": ("企业", "Enterprise"),
    "dash.rung": ("措施等级", "Rung"),
    "dash.evidence_kind": ("证据类型", "Evidence kind"),
    "dash.evidence_ref": ("证据编号", "Evidence reference"),
    "dash.minutes": ("约谈纪要（约谈时必填）", "Interview minutes (for an interview)"),
    "dash.escalated": ("已采取措施：", "Action taken:"),
    "dash.complaints": ("投诉统计", "Complaints"),
    "dash.export": ("导出 CSV", "Export CSV"),
    "dash.export_xlsx": ("导出 Excel (XLSX)", "Export Excel (XLSX)"),
    "dash.trend": ("逐月趋势", "Month by month"),
    "dash.trend_table": ("逐月数据（表格）", "The months as a table"),
    "dash.month": ("月份", "Month"),
    "dash.registrations": ("入网登记", "Registrations"),
    "dash.refused": ("拒绝登记", "Refused"),
    "dash.rounds": (
        "各轮暗访违规率及 95% 置信区间",
        "Violation rate per inspection round, with its 95 % interval",
    ),
    "dash.rounds_table": ("各轮暗访数据（表格）", "The rounds as a table"),
    "dash.round": ("轮次", "Round"),
    "dash.round_dates": ("起止日期", "Dates"),
    "dash.violations": ("违规网点", "Violating"),
    # the charts' series (legend and tooltip)
    "chart.registrations": ("入网登记", "Registrations"),
    "chart.refused": ("拒绝登记", "Refused"),
    "chart.complaints": ("投诉", "Complaints"),
    "chart.violation_rate": ("违规率", "Violation rate"),
    "chart.interval": ("95% 置信区间", "95 % interval"),
    "chart.real_name_rate": ("实名率", "Real-name rate"),
    "dash.provinces": ("各省实名率", "Real-name rate by province"),
    "dash.provinces_table": ("各省数据表", "The provinces as a table"),
    "dash.province": ("省份", "Province"),
    "kind.mno": ("基础运营商", "MNO"),
    "kind.mvno": ("转售企业", "MVNO"),
    # a line's states (registry.lifecycle.LineState)
    "state.pooled": ("未分配", "pooled"),
    "state.stocked": ("待售", "stocked"),
    "state.active": ("正常在用", "active"),
    "state.restricted": ("单向停机", "restricted"),
    "state.suspended": ("双向停机", "suspended"),
    "state.cancelled": ("已销号", "cancelled"),
    "state.cooling": ("冷冻期", "cooling"),
    "state.legacy": ("未实名（存量）", "legacy"),
    # a complaint's outcome codes (what was done; then the code the enterprise closed it with)
    "outcome.number_unknown": ("号码不属于任何企业", "number not ours"),
    "outcome.recorded": ("已记录", "recorded"),
    "outcome.reverification_requested": ("已要求重新核验身份", "re-verification requested"),
    "outcome.line_disputed": ("号码已标记为有争议", "line marked as disputed"),
    "outcome.owner_lines_flagged": ("机主名下号码已标记", "owner's lines flagged"),
    "outcome.line_cancelled": ("号码已注销", "line cancelled"),
    "outcome.resolved": ("已解决", "resolved"),
    "rung.notice": ("通报批评", "Notice of criticism"),
    "rung.interview": ("约谈", "Interview"),
    "rung.rectification": ("责令整改", "Rectification order"),
    "rung.yellow_1": ("黄牌 I", "Yellow card I"),
    "rung.yellow_2": ("黄牌 II", "Yellow card II"),
    "rung.yellow_3": ("黄牌 III", "Yellow card III"),
    "rung.red": ("红牌", "Red card"),
}


@dataclass(frozen=True)
class Translator:
    """One request's locale: words, dates and numbers."""

    locale: str

    @property
    def babel(self) -> str:
        return _BABEL[self.locale]

    @property
    def html_lang(self) -> str:
        return "zh-CN" if self.locale == "zh-CN" else "en"

    def __call__(self, key: str) -> str:
        zh, en = MESSAGES[key]
        return zh if self.locale == "zh-CN" else en

    def code(self, kind: str, code: str) -> str:
        """A code (a line's `state`, a case's `outcome`) in the page's words; one this page
        has no words for (an outcome code the enterprise chose) as it came."""
        key = f"{kind}.{code}"
        return self(key) if key in MESSAGES else code

    def state(self, code: str | None) -> str:
        return self.code("state", code) if code else ""

    def outcome(self, codes: str | None) -> str:
        """A case's outcome codes (`line_disputed,reverification_requested`), each in words."""
        if not codes:
            return "—"
        separator = "；" if self.locale == "zh-CN" else "; "
        return separator.join(self.code("outcome", code) for code in codes.split(","))

    def number(self, value: float | int | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.babel)

    def decimal(self, value: float | None) -> str:
        return "—" if value is None else format_decimal(value, format="#,##0.0", locale=self.babel)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "—"
        return format_percent(value, format="#,##0.0%", locale=self.babel)

    def day(self, value: str | date | None) -> str:
        if value is None or value == "":
            return "—"
        parsed = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_date(parsed, format="medium", locale=self.babel)

    def instant(self, value: str | datetime | None) -> str:
        if value is None or value == "":
            return "—"
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(parsed, format="medium", locale=self.babel, tzinfo=parsed.tzinfo)


def chosen_locale(cookie: str | None) -> str:
    return cookie if cookie in LOCALES else DEFAULT_LOCALE
