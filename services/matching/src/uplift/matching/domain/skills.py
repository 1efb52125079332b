"""The controlled skill vocabulary (DOMAIN.md §2, §8): codes with Chinese and English labels and aliases.

Persons, postings and trainings name skills by code. Operators type free text (保洁, 清洁工, "clening"), so
the vocabulary resolves exact names (code, either label or an alias, ignoring case and spacing) to a code and,
for anything else, suggests the nearest codes by fuzzy matching (rapidfuzz WRatio over every name). A fuzzy
match is only ever a suggestion: silently correcting 电焊 to 电工 would put the wrong skill on a person's
record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils


@dataclass(frozen=True, slots=True)
class Skill:
    code: str
    label_zh: str
    label_en: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the skill answers to: code, labels, aliases."""
        return (self.code, self.label_zh, self.label_en, *self.aliases)


@dataclass(frozen=True, slots=True)
class SkillMatch:
    skill: Skill
    score: float  # 0–100; 100 for an exact name


# Skills that urban low-income job seekers have or can train for quickly, and that the district's employers
# ask for (property companies, catering, logistics, care, community posts, remote work for disabled people).
DEFAULT_SKILLS: tuple[Skill, ...] = (
    Skill("cleaning", "保洁", "Cleaning", ("清洁", "保洁员", "清洁工", "打扫卫生", "cleaner", "janitor")),
    Skill("security", "保安", "Security guard", ("安保", "保安员", "门卫", "巡逻", "guard", "security")),
    Skill("catering", "餐饮服务", "Catering service", ("服务员", "餐厅服务", "传菜", "waiter", "food service")),
    Skill("cooking", "烹饪", "Cooking", ("厨师", "做饭", "帮厨", "炒菜", "chef", "cook")),
    Skill("dishwashing", "洗碗", "Dishwashing", ("洗碗工", "餐具清洗", "dishwasher")),
    Skill("baking", "面点", "Baking and pastry", ("面点师", "烘焙", "baker", "pastry")),
    Skill("food_processing", "食品加工", "Food processing", ("食品厂", "熟食加工", "food factory")),
    Skill("delivery", "快递配送", "Parcel delivery", ("快递", "配送", "送货", "外卖骑手", "courier", "rider")),
    Skill("driving", "驾驶", "Driving", ("司机", "开车", "驾驶员", "driver", "chauffeur")),
    Skill("forklift", "叉车", "Forklift operation", ("叉车工", "叉车司机", "forklift driver")),
    Skill("warehouse", "仓储", "Warehouse work", ("仓库", "仓管", "理货", "分拣", "picker", "stock keeper")),
    Skill("loading", "装卸", "Loading and unloading", ("搬运", "装卸工", "porter", "mover")),
    Skill("packaging", "包装", "Packaging", ("打包", "包装工", "packer")),
    Skill("assembly", "流水线装配", "Assembly line work", ("普工", "流水线", "组装", "装配工", "factory worker")),
    Skill("quality_inspection", "质检", "Quality inspection", ("质检员", "检验", "inspector", "QC")),
    Skill("elderly_care", "养老护理", "Elderly care", ("护工", "养老护理员", "陪护", "caregiver", "elder care")),
    Skill("childcare", "育婴", "Childcare", ("育婴师", "月嫂", "带孩子", "nanny", "babysitter", "infant care")),
    Skill("domestic_service", "家政服务", "Domestic service", ("家政", "钟点工", "保姆", "domestic helper")),
    Skill("laundry", "洗衣", "Laundry and ironing", ("洗涤", "干洗", "熨烫", "ironing")),
    Skill("customer_service", "客服", "Customer service", ("客户服务", "售后", "call center", "support")),
    Skill(
        "remote_customer_service",
        "远程客服",
        "Remote customer service",
        ("在线客服", "居家客服", "网络客服", "online customer service", "remote support"),
    ),
    Skill("telemarketing", "电话销售", "Telemarketing", ("电销", "电话回访", "telesales")),
    Skill("receptionist", "前台接待", "Reception", ("前台", "接待员", "front desk", "receptionist")),
    Skill("data_entry", "数据录入", "Data entry", ("录入员", "打字", "文字录入", "typing", "typist")),
    Skill("computer_basic", "计算机基础", "Basic computer skills", ("电脑", "办公软件", "office software")),
    Skill("bookkeeping", "记账", "Bookkeeping", ("会计", "出纳", "账务", "bookkeeper", "accounting")),
    Skill("sales", "销售", "Sales", ("推销", "导购", "营业员", "salesperson", "shop assistant")),
    Skill("cashier", "收银", "Cashier", ("收银员", "checkout", "till")),
    Skill("ecommerce_livestreaming", "电商直播", "E-commerce and livestreaming", ("电商", "直播带货", "网店")),
    Skill(
        "gardening",
        "绿化",
        "Gardening and landscaping",
        ("园林", "绿化工", "园艺", "gardener", "landscaping"),
    ),
    Skill("property_maintenance", "物业维修", "Property maintenance", ("维修工", "水电维修", "handyman")),
    Skill("property_management", "物业管理", "Property management", ("物业管家", "楼管", "property manager")),
    Skill("electrician", "电工", "Electrician", ("电工证", "电路维修", "electrical work")),
    Skill("plumbing", "水暖", "Plumbing", ("水管工", "管道维修", "plumber")),
    Skill("welding", "焊工", "Welding", ("电焊", "焊接", "welder")),
    Skill("carpentry", "木工", "Carpentry", ("木匠", "carpenter")),
    Skill("masonry", "瓦工", "Masonry and tiling", ("泥瓦工", "贴砖", "bricklayer", "tiler")),
    Skill("painting_decorating", "油漆", "Painting and decorating", ("油漆工", "刷墙", "painter", "decorator")),
    Skill("construction_labour", "建筑小工", "Construction labour", ("小工", "工地", "construction worker")),
    Skill("appliance_repair", "家电维修", "Appliance repair", ("修家电", "电器维修", "appliance technician")),
    Skill("phone_repair", "手机维修", "Phone repair", ("修手机", "mobile phone repair")),
    Skill("car_washing", "洗车", "Car washing", ("洗车工", "汽车美容", "car wash")),
    Skill("parking_attendant", "停车管理", "Parking attendant", ("停车场", "停车收费员", "car park attendant")),
    Skill("sewing", "缝纫", "Sewing", ("缝纫工", "裁缝", "车工", "tailor", "seamstress")),
    Skill("handicraft", "手工", "Handicraft", ("手工艺", "编织", "串珠", "crafts", "knitting")),
    Skill("hairdressing", "美发", "Hairdressing", ("理发", "美容美发", "barber", "hairdresser")),
    Skill("massage", "保健按摩", "Massage", ("按摩", "推拿", "盲人按摩", "masseur", "tuina")),
    Skill("recycling", "废品回收", "Recycling and waste sorting", ("回收", "垃圾分类", "waste sorting")),
    Skill("pet_care", "宠物护理", "Pet care", ("宠物美容", "遛狗", "pet grooming")),
    Skill("community_service", "社区服务", "Community service", ("网格员", "社区工作", "community worker")),
    Skill("tutoring", "课后辅导", "Tutoring", ("家教", "辅导", "tutor")),
    Skill("first_aid", "急救", "First aid", ("急救证", "CPR")),
    Skill("sign_language", "手语", "Sign language", ("手语翻译", "sign language interpreter")),
)

SUGGESTION_CUTOFF = 65.0  # WRatio below this is noise for one- to three-word skill names (保洁 vs 保安: 60)
SUGGESTION_LIMIT = 5


def normalise_skill_text(text: str) -> str:
    """Lower case, with runs of whitespace, `-` and `_` collapsed to one space: how names are compared."""
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


class SkillVocabulary:
    """A set of skills searchable by code, label or alias, exactly or fuzzily."""

    def __init__(self, skills: Iterable[Skill] = DEFAULT_SKILLS) -> None:
        self._skills: tuple[Skill, ...] = tuple(skills)
        self._by_code: dict[str, Skill] = {}
        self._by_exact_name: dict[str, Skill] = {}
        self._names: list[str] = []  # normalised names, parallel to _name_owners, for rapidfuzz
        self._name_owners: list[Skill] = []
        for skill in self._skills:
            if skill.code in self._by_code:
                raise ValueError(f"skill code {skill.code!r} is defined twice")
            self._by_code[skill.code] = skill
            for name in skill.names:
                key = normalise_skill_text(name)
                owner = self._by_exact_name.setdefault(key, skill)
                if owner is not skill:
                    raise ValueError(f"skill name {name!r} belongs to both {owner.code!r} and {skill.code!r}")
                self._names.append(key)
                self._name_owners.append(skill)

    @property
    def skills(self) -> tuple[Skill, ...]:
        return self._skills

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Skill | None:
        return self._by_code.get(code)

    def search(self, q: str, limit: int = 20) -> list[SkillMatch]:
        """Skills best matching `q` (exact names first, then by fuzzy score); all skills when `q` is blank."""
        if limit <= 0:
            return []
        query = normalise_skill_text(q)
        if not query:
            return [SkillMatch(skill, 100.0) for skill in self._skills[:limit]]
        return self._ranked_matches(query, cutoff=SUGGESTION_CUTOFF)[:limit]

    def resolve(self, free_text: str) -> tuple[str | None, list[str]]:
        """The code that `free_text` names exactly, or None with the nearest codes as suggestions."""
        query = normalise_skill_text(free_text)
        exact = self._by_exact_name.get(query)
        if exact is not None:
            return exact.code, []
        if not query:
            return None, []
        return None, [m.skill.code for m in self._ranked_matches(query, cutoff=SUGGESTION_CUTOFF)][:SUGGESTION_LIMIT]

    def unknown_codes(self, codes: Sequence[str]) -> dict[str, list[str]]:
        """Each code that is not in the vocabulary, with suggestions: the body of a 422 naming them."""
        unknown: dict[str, list[str]] = {}
        for code in codes:
            if code not in self._by_code and code not in unknown:
                # A label or alias sent in place of a code ("保洁") suggests exactly the code it names.
                resolved, suggestions = self.resolve(code)
                unknown[code] = [resolved] if resolved is not None else suggestions
        return unknown

    def _ranked_matches(self, query: str, *, cutoff: float) -> list[SkillMatch]:
        best: dict[str, float] = {}
        exact = self._by_exact_name.get(query)
        if exact is not None:
            best[exact.code] = 101.0  # an exact name outranks any fuzzy 100 (a substring hit)
        hits = process.extract(
            query,
            self._names,
            scorer=fuzz.WRatio,
            processor=utils.default_process,
            limit=None,
            score_cutoff=cutoff,
        )
        for _name, name_score, index in hits:
            code = self._name_owners[index].code
            if name_score > best.get(code, -1.0):
                best[code] = name_score
        order = {skill.code: i for i, skill in enumerate(self._skills)}
        ranked = sorted(best.items(), key=lambda item: (-item[1], order[item[0]]))
        return [SkillMatch(self._by_code[code], min(score, 100.0)) for code, score in ranked]


DEFAULT_VOCABULARY = SkillVocabulary()
