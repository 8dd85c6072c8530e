"""The demo's words and numbers per language: people, companies, deals, what they say
to each other, the organization's currency, rates, language and time zone. The story
itself (who moves what, who approves, what is left waiting) is api/demo.py, told
once for every language; a deal's `role` is the part it plays in that story."""
from dataclasses import dataclass
from decimal import Decimal

# Sign-ins are the same in every language (README lists them): email, department, role.
DEMO_ACCOUNTS = [
    ("admin@demo.baton", "sales", "ADMIN"),
    ("sales@demo.baton", "sales", "MEMBER"),
    ("marketing@demo.baton", "marketing", "MEMBER"),
    ("product@demo.baton", "product", "MEMBER"),
    ("legal@demo.baton", "legal", "MEMBER"),
    ("legal2@demo.baton", "legal", "MEMBER"),
    ("finance@demo.baton", "finance", "MEMBER"),
    ("finance.manager@demo.baton", "finance", "MANAGER"),
    ("viewer@demo.baton", "sales", "VIEWER"),
]


@dataclass(frozen=True)
class Deal:
    title: str
    account: str
    amount: Decimal | None
    stage: str
    priority: str
    tags: list[str]
    days_to_close: int | None
    currency: str | None = None  # None: the organization's base currency
    # The deal's part in the story: "handoff" (left waiting for legal), "signed" (contract
    # handoff answered), "rollout" (contract approval half done), "discount" (approval pending).
    role: str | None = None


@dataclass(frozen=True)
class DemoTexts:
    org_name: str
    locale: str
    time_zone: str
    base_currency: str
    rates: dict[str, Decimal]  # what one unit is worth in the base currency
    names: dict[str, str]  # email -> person's name
    deals: list[Deal]
    lines: dict[str, str]  # what people write in the story (comments, notes, reasons)


ENGLISH = DemoTexts(
    org_name="Demo",
    locale="en",
    time_zone="UTC",
    # The English demo counts in US dollars (an organization's default base); one deal is in
    # euros and the rates convert it, so the board shows a total per currency and in USD.
    base_currency="USD",
    rates={"EUR": Decimal("1.08"), "CNY": Decimal("0.138")},
    names={
        "admin@demo.baton": "Ada Admin",
        "sales@demo.baton": "Sam Sales",
        "marketing@demo.baton": "Mia Marketing",
        "product@demo.baton": "Pat Product",
        "legal@demo.baton": "Lee Legal",
        "legal2@demo.baton": "Lou Legal",
        "finance@demo.baton": "Fay Finance",
        "finance.manager@demo.baton": "Fern Finance",
        "viewer@demo.baton": "Vic Viewer",
    },
    deals=[
        Deal("Fleet telematics pilot", "Northwind Logistics", None, "lead", "MEDIUM", ["pilot"], None),
        Deal("Data platform renewal", "Contoso Retail", None, "lead", "HIGH", ["renewal"], None),
        Deal("EU expansion seats", "Fabrikam GmbH", None, "qualified", "MEDIUM", ["expansion", "eu"], None),
        Deal("Analytics add-on", "Tailspin Toys", None, "qualified", "LOW", ["upsell"], None),
        Deal("Hospital scheduling suite", "Lakeshore Health", Decimal("180000"), "proposal", "URGENT", ["healthcare"], 30),
        Deal("Warehouse robotics integration", "Northwind Logistics", Decimal("95000"), "proposal", "HIGH", ["integration"], 45),
        Deal("Campus-wide licence", "Woodgrove University", Decimal("240000"), "negotiation", "HIGH", ["education"], 20,
             role="handoff"),
        Deal("Payments gateway", "Adventure Works", Decimal("64000"), "negotiation", "MEDIUM", ["fintech"], 25,
             currency="EUR", role="discount"),
        Deal("Store analytics rollout", "Contoso Retail", Decimal("52000"), "won", "MEDIUM", ["retail"], -10),
        Deal("Claims automation", "Margie's Insurance", Decimal("130000"), "won", "HIGH", ["insurance"], -30),
        Deal("Field service app", "Litware Energy", Decimal("40000"), "lost", "LOW", ["energy"], -5),
        Deal("Shop-floor IoT", "Proseware Manufacturing", None, "lead", "MEDIUM", ["iot", "pilot"], None),
        Deal("Security operations platform", "Fourth Coffee", Decimal("310000"), "contract", "URGENT", ["security"], 14,
             role="signed"),
        # From 1,000,000 the contract approval also needs a finance manager: legal has approved, finance is next.
        Deal("Nationwide store rollout", "Contoso Retail", Decimal("1250000"), "negotiation", "HIGH", ["retail"], 40,
             role="rollout"),
    ],
    lines={
        "lost_reason": "Chose a cheaper competitor",
        "task": "Send pricing sheet",
        "comment": "@legal please look at their redlines before the next call",
        "handoff_note": "Their procurement wants our standard MSA",
        "reviewing": "Reviewing the contract",
        "filed": "Filed with the master agreement",
        "approved": "Looks good",
        "rollout_request": "Three-year rollout, 400 stores",
        "rollout_approved": "Standard MSA, no redlines",
        "discount_request": "15% multi-year discount",
    },
)

CHINESE = DemoTexts(
    org_name="Baton 演示",
    locale="zh-CN",
    time_zone="Asia/Shanghai",
    # 人民币为本位币; a few deals are in US dollars and euros, converted at these rates.
    base_currency="CNY",
    rates={"USD": Decimal("7.1"), "EUR": Decimal("7.75")},
    names={
        "admin@demo.baton": "王芳",
        "sales@demo.baton": "李强",
        "marketing@demo.baton": "张敏",
        "product@demo.baton": "刘洋",
        "legal@demo.baton": "陈静",
        "legal2@demo.baton": "杨帆",
        "finance@demo.baton": "赵磊",
        "finance.manager@demo.baton": "黄丽",
        "viewer@demo.baton": "周杰",
    },
    deals=[
        Deal("车队远程监控试点", "上海星辰科技有限公司", None, "lead", "MEDIUM", ["试点"], None),
        Deal("数据平台续约", "北京华联零售集团", None, "lead", "HIGH", ["续约"], None),
        Deal("欧洲分公司席位扩容", "德国法布里肯有限公司", None, "qualified", "MEDIUM", ["扩容", "海外"], None),
        Deal("数据分析模块加购", "深圳天翼玩具有限公司", None, "qualified", "LOW", ["增购"], None),
        Deal("医院排班系统", "杭州湖滨医疗集团", Decimal("1280000"), "proposal", "URGENT", ["医疗"], 30),
        Deal("仓储机器人集成", "上海星辰科技有限公司", Decimal("680000"), "proposal", "HIGH", ["集成"], 45),
        Deal("全校区软件授权", "南京明德大学", Decimal("1700000"), "negotiation", "HIGH", ["教育"], 20, role="handoff"),
        Deal("跨境支付网关", "新加坡远航支付有限公司", Decimal("64000"), "negotiation", "MEDIUM", ["金融科技"], 25,
             currency="USD", role="discount"),
        Deal("门店数据分析上线", "北京华联零售集团", Decimal("370000"), "won", "MEDIUM", ["零售"], -10),
        Deal("理赔流程自动化", "众安信保险股份有限公司", Decimal("920000"), "won", "HIGH", ["保险"], -30),
        Deal("现场服务应用", "成都蓝天能源有限公司", Decimal("280000"), "lost", "LOW", ["能源"], -5),
        Deal("车间物联网改造", "苏州精工制造有限公司", None, "lead", "MEDIUM", ["物联网", "试点"], None),
        Deal("安全运营平台", "广州四方咖啡连锁有限公司", Decimal("290000"), "contract", "URGENT", ["安全"], 14,
             currency="EUR", role="signed"),
        # 金额达到 1,000,000 的合同审批还需财务经理签字: 法务已批准, 下一步是财务.
        Deal("全国门店推广", "北京华联零售集团", Decimal("8800000"), "negotiation", "HIGH", ["零售"], 40, role="rollout"),
    ],
    lines={
        "lost_reason": "客户选择了报价更低的竞争对手",
        "task": "发送报价单",
        "comment": "@legal 下次通话前请看一下对方的合同修订意见",
        "handoff_note": "对方采购部要求使用我们的标准主协议",
        "reviewing": "正在审核合同",
        "filed": "已随主协议归档",
        "approved": "同意",
        "rollout_request": "三年期推广，覆盖400家门店",
        "rollout_approved": "标准主协议，无修订",
        "discount_request": "多年合约折扣15%",
    },
)

TEXTS = {"en": ENGLISH, "zh-CN": CHINESE}
LOCALES = tuple(TEXTS)
