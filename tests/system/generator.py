"""A seeded district like the reference programme, with its own ground truth.

`generate_district(size, seed, today)` builds everything the programme scenario sends to the services — org
units, departments with linked streets, cadres and party branches, households with members (valid GB 11643 ID
numbers, birth dates that agree with them), visits with satisfaction, the hires, the medical claims and the
exits — and records what must come out: who is hired at what wage, which households exit for which reason, which
visits carry which satisfaction, and what each claim's five lines pay (computed here, independently of the
medical service, from DOMAIN.md section 9 with the default policy year).

Personal data is synthetic but realistic: three-character Chinese names drawn from a pool that shares no
character with anything else the scenario sends (org names, addresses, occupations), so a scan for them in logs
and events never matches by accident.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from uplift.medical.domain.policy_year import DEFAULT_POLICY_YEAR_DOCUMENT

# --- sizes ------------------------------------------------------------------------------------------------

REFERENCE_CADRE_MIX = {"district_leader": 30, "division": 520, "section": 380, "staff": 69}
QUOTAS = {"district_leader": 5, "division": 5, "section": 2, "staff": 1, "branch": 2}
DIBAO_LINE = Decimal("900.00")
LIFTED_REASONS = ("employment", "substitute_support", "policy_support", "income_above_line")
OTHER_EXIT_REASONS = ("moved_away", "deceased")


@dataclass(frozen=True)
class DistrictSize:
    streets: int
    communities_per_street: int
    households: int
    cadres: int
    branches: int
    departments: int
    lifted_exits: int  # households exiting with a 脱贫 reason
    other_exits: int  # households exiting for another reason (counted in no numerator)
    hire_share: float  # share of households with an unemployed seeker that get a hire
    visit_share: float
    claims: int

    @classmethod
    def reference(cls) -> DistrictSize:
        """The first cohort: 14 streets, 3,407 households, 999 cadres, 186 branches; 690 lifted out."""
        return cls(14, 3, 3407, 999, 186, 60, 690, 34, 0.22, 0.85, 240)

    @classmethod
    def small(cls) -> DistrictSize:
        """Small enough for `make test`: the same shape at about 1/28 of the volume."""
        households = 120
        return cls(2, 2, households, 40, 8, 4, round(households * 690 / 3407), 2, 0.25, 0.85, 16)


def cadre_ranks(cadres: int) -> list[str]:
    """The reference rank mix scaled to `cadres` (largest remainder), most senior first."""
    exact = {rank: count * cadres / 999 for rank, count in REFERENCE_CADRE_MIX.items()}
    counts = {rank: math.floor(value) for rank, value in exact.items()}
    for rank in sorted(exact, key=lambda r: exact[r] - counts[r], reverse=True)[: cadres - sum(counts.values())]:
        counts[rank] += 1
    return [rank for rank, count in counts.items() for _ in range(count)]


# --- ID numbers and names -----------------------------------------------------------------------------------

_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def id_check_digit(body17: str) -> str:
    """GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits; 10 is written X."""
    value = (12 - sum(int(digit) * weight for digit, weight in zip(body17, _ID_WEIGHTS, strict=True)) % 11) % 11
    return "X" if value == 10 else str(value)


SURNAMES = (
    "赵钱孙李周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施孔曹严华金魏陶姜谢邹喻柏窦章苏潘葛范彭鲁韦昌马苗凤方俞任"
    "袁柳鲍史唐费薛雷贺倪汤殷罗毕郝邬安常乐于傅齐康伍余顾孟黄萧尹姚邵汪祁毛狄贝臧计伏戴谈宋庞熊纪舒屈项祝"
    "董梁杜阮蓝闵席季贾江郭林钟徐邱骆高夏蔡田樊胡凌霍虞万柯卢莫房缪解应丁宣邓洪包左石崔龚程邢裴陆荣翁荀惠"
    "甄曲封储靳焦牧山谷车侯宓全班仰秋仲伊宫宁仇栾暴甘厉戎祖武符刘景詹龙叶幸司黎薄印宿白怀蒲邰从鄂索咸赖卓"
    "蔺屠蒙池乔阴胥能苍双闻莘翟谭贡劳逄姬申扶堵冉宰郦雍桑桂濮牛寿通边扈燕冀浦尚农温庄晏柴瞿阎充慕连茹习艾"
    "鱼容向古易慎戈廖庾终居衡步耿满弘匡国文寇广禄阙东欧利蔚越夔隆师巩聂晁勾敖融冷訾辛阚那简饶曾沙养鞠须丰"
    "巢关蒯相查後荆红游竺权盖益桓"
)
GIVEN = (
    "伟芳娜敏静秀丽强磊洋艳勇军杰娟涛明超霞平刚桂英兰玉萍红鹏飞辉斌宇浩凯健俊帆帅旭宁睿琳倩婷雪"
    "莉燕颖琪欣瑶怡佳璐蕾薇晶晨悦嘉泽彤萱轩皓哲昊然博锐梓航翔铭瀚琦琼珊蓓丹岚茜菲妍妮"
)


# --- the district --------------------------------------------------------------------------------------------


@dataclass
class Member:
    key: str  # generator's own key, e.g. "h0001-m2"
    name: str
    id_number: str
    birth_date: dt.date
    sex: str
    relation: str
    work_ability: str
    employment_status: str
    disability_level: int
    chronic_illness: bool
    education: str
    skills: list[str]
    pension_insured: bool
    medical_insured: bool
    phone: str | None

    def age_on(self, day: dt.date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "id_number": self.id_number,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "relation": self.relation,
            "work_ability": self.work_ability,
            "employment_status": self.employment_status,
            "disability_level": self.disability_level,
            "chronic_illness": self.chronic_illness,
            "education": self.education,
            "skills": self.skills,
            "pension_insured": self.pension_insured,
            "medical_insured": self.medical_insured,
        }
        if self.phone:
            body["phone"] = self.phone
        return body


@dataclass
class Household:
    key: str
    street_code: str
    community_code: str
    address: str
    category: str
    monthly_income: Decimal
    dibao_monthly: Decimal
    causes: list[str]
    members: list[Member]

    def body(self, cohort: str, enrolled_on: dt.date) -> dict[str, Any]:
        return {
            "community_code": self.community_code,
            "address": self.address,
            "category": self.category,
            "monthly_income": f"{self.monthly_income:.2f}",
            "dibao_monthly": f"{self.dibao_monthly:.2f}",
            "causes": self.causes,
            "cohort": cohort,
            "enrolled_on": enrolled_on.isoformat(),
            "members": [member.body() for member in self.members],
        }


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    linked_streets: list[str]


@dataclass(frozen=True)
class Cadre:
    key: str
    name: str
    rank: str
    department_code: str
    home_street_code: str


@dataclass(frozen=True)
class Branch:
    key: str
    name: str
    department_code: str | None
    community_code: str | None


@dataclass(frozen=True)
class Hire:
    household_key: str
    member_key: str
    monthly_wage: Decimal


@dataclass(frozen=True)
class Exit:
    household_key: str
    reason: str
    employed_member_keys: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    household_key: str
    member_key: str
    hospital_code: str
    settlement_no: str
    hospital_level: int
    admitted_on: dt.date
    discharged_on: dt.date
    total: Decimal
    in_policy: Decimal

    def body(self, person_id: str) -> dict[str, Any]:
        return {
            "person_id": person_id,
            "hospital_code": self.hospital_code,
            "settlement_no": self.settlement_no,
            "hospital_level": self.hospital_level,
            "admitted_on": self.admitted_on.isoformat(),
            "discharged_on": self.discharged_on.isoformat(),
            "total": f"{self.total:.2f}",
            "in_policy": f"{self.in_policy:.2f}",
        }


@dataclass
class District:
    """Everything the scenario sends, and what the generator decided (its ground truth)."""

    run: str
    district_code: str
    cohort: str
    today: dt.date
    enrolled_on: dt.date
    streets: list[str]
    communities: dict[str, list[str]]  # street → communities
    departments: list[Department]
    cadres: list[Cadre]
    branches: list[Branch]
    households: list[Household]
    visit_satisfaction: dict[str, int | None]  # household key → satisfaction of its one visit (visited ones only)
    hires: list[Hire]
    exits: list[Exit]
    claims: list[Claim]
    members_by_key: dict[str, Member] = field(default_factory=dict)
    households_by_key: dict[str, Household] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.households_by_key = {household.key: household for household in self.households}
        self.members_by_key = {member.key: member for household in self.households for member in household.members}

    def personal_strings(self) -> dict[str, set[str]]:
        """Every name, ID number and phone number the generator created (the PII scan looks for these)."""
        members = [member for household in self.households for member in household.members]
        return {
            "member names": {member.name for member in members},
            "ID numbers": {member.id_number for member in members},
            "phones": {member.phone for member in members if member.phone},
            "cadre names": {cadre.name for cadre in self.cadres},
        }


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def generate_district(size: DistrictSize, seed: int, today: dt.date, run: str) -> District:
    """A district of `size`, fully determined by `seed` (and by `run`, which only names things)."""
    rng = random.Random(seed)
    district = f"4{rng.randrange(10000, 99999)}"  # a fresh district code per run: its streets are fresh too
    streets = [f"{district}{number:03d}" for number in range(1, size.streets + 1)]
    communities = {
        street: [f"{street}{number:03d}" for number in range(1, size.communities_per_street + 1)] for street in streets
    }
    street_weights = [rng.uniform(0.4, 2.5) for _ in streets]

    departments = []
    for number in range(1, size.departments + 1):
        linked = rng.sample(streets, min(rng.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0], len(streets)))
        departments.append(Department(f"{run.upper()[:8]}-D{number:03d}", f"部门{number:03d}", sorted(linked)))

    used_names: set[str] = set()

    def fresh_name() -> str:
        while True:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            if name not in used_names:
                used_names.add(name)
                return name

    used_ids: set[str] = set()

    def fresh_id(born: dt.date, sex: str) -> str:
        while True:
            serial = rng.randrange(0, 500) * 2 + (1 if sex == "male" else 0)
            body = f"{district}{born:%Y%m%d}{serial:03d}"
            candidate = body + id_check_digit(body)
            if candidate not in used_ids:
                used_ids.add(candidate)
                return candidate

    used_phones: set[str] = set()

    def fresh_phone() -> str:
        while True:
            phone = f"1{rng.choice('3578')}{rng.randrange(0, 10**9):09d}"
            if phone not in used_phones:
                used_phones.add(phone)
                return phone

    cadres = [
        Cadre(
            f"c{number:04d}",
            fresh_name(),
            rank,
            rng.choice(departments).code,
            rng.choice(streets),
        )
        for number, rank in enumerate(cadre_ranks(size.cadres), start=1)
    ]
    branches = []
    for number in range(1, size.branches + 1):
        if rng.random() < 0.65:
            street = rng.choice(streets)
            branches.append(Branch(f"b{number:04d}", f"第{number}党支部", None, rng.choice(communities[street])))
        else:
            branches.append(Branch(f"b{number:04d}", f"第{number}党支部", rng.choice(departments).code, None))

    enrolled_on = today - dt.timedelta(days=120)

    def birth(age_from: int, age_to: int) -> dt.date:
        return enrolled_on - dt.timedelta(days=rng.randrange(age_from * 366, age_to * 365))

    def member(key: str, relation: str, born: dt.date, sex: str) -> Member:
        age = (today - born).days // 366
        if age < 16:
            ability, status, education = "none", "student" if age >= 6 else "unable", "primary" if age >= 6 else "none"
        elif age >= 65:
            ability, status, education = rng.choice(["none", "partial"]), "retired", "primary"
        else:
            ability = rng.choices(["full", "partial", "none"], weights=[70, 20, 10])[0]
            status = "unable" if ability == "none" else rng.choices(["unemployed", "employed"], weights=[75, 25])[0]
            education = rng.choice(["primary", "junior_high", "senior_high", "vocational"])
        disability = rng.choices([0, 1, 2, 3, 4], weights=[80, 6, 6, 4, 4])[0]
        return Member(
            key=key,
            name=fresh_name(),
            id_number=fresh_id(born, sex),
            birth_date=born,
            sex=sex,
            relation=relation,
            work_ability=ability,
            employment_status=status,
            disability_level=disability,
            chronic_illness=rng.random() < 0.15,
            education=education,
            skills=rng.sample(["cleaning", "cooking", "driving", "security"], rng.randrange(0, 3)) if age >= 16 else [],
            pension_insured=rng.random() < 0.6,
            medical_insured=rng.random() < 0.95,
            phone=fresh_phone() if relation == "head" else None,
        )

    households = []
    for number in range(1, size.households + 1):
        key = f"h{number:05d}"
        street = rng.choices(streets, weights=street_weights)[0]
        head_sex = rng.choice(["male", "female"])
        members = [member(f"{key}-m1", "head", birth(28, 64), head_sex)]
        extra = rng.choices([0, 1, 2, 3], weights=[25, 35, 25, 15])[0]
        relations = ["spouse", "child", "parent"][:extra]
        for index, relation in enumerate(relations, start=2):
            if relation == "spouse":
                born, sex = birth(28, 64), "female" if head_sex == "male" else "male"
            elif relation == "child":
                born, sex = birth(1, 24), rng.choice(["male", "female"])
            else:
                born, sex = birth(66, 88), rng.choice(["male", "female"])
            members.append(member(f"{key}-m{index}", relation, born, sex))
        category = rng.choices(["dibao", "tekun", "low_income"], weights=[60, 15, 25])[0]
        households.append(
            Household(
                key=key,
                street_code=street,
                community_code=rng.choice(communities[street]),
                address=f"{rng.randrange(1, 300)}号{rng.randrange(1, 20)}栋{rng.randrange(101, 1800)}室",
                category=category,
                monthly_income=_money(rng.randrange(0, 60) * 10),
                dibao_monthly=_money(rng.choice([300, 450, 600, 900])),
                causes=sorted(rng.sample(["illness", "disability", "unemployment", "lack_of_labour", "elderly"], 2)),
                members=members,
            )
        )

    # Hires: one unemployed working-age member with work ability, in a share of the households that have one.
    hires = []
    for household in households:
        seekers = [
            m
            for m in household.members
            if m.employment_status == "unemployed" and m.work_ability != "none" and 16 <= m.age_on(today) < 55
        ]
        if seekers and rng.random() < size.hire_share:
            hires.append(Hire(household.key, rng.choice(seekers).key, _money(rng.randrange(2200, 4200, 50))))
    hired_households = {hire.household_key: hire for hire in hires}

    # Exits: most hired households exit for employment; the other lifted exits and a few other reasons follow.
    shuffled = households[:]
    rng.shuffle(shuffled)
    exits: list[Exit] = []
    exiting: set[str] = set()
    for household in shuffled:
        hire = hired_households.get(household.key)
        if hire is not None and len(exits) < size.lifted_exits and rng.random() < 0.6:
            exits.append(Exit(household.key, "employment", (hire.member_key,)))
            exiting.add(household.key)
    for household in shuffled:
        if len(exits) >= size.lifted_exits:
            break
        if household.key not in exiting:
            exits.append(Exit(household.key, rng.choice(LIFTED_REASONS[1:]), ()))
            exiting.add(household.key)
    for household in shuffled:
        if len(exits) >= size.lifted_exits + size.other_exits:
            break
        if household.key not in exiting:
            exits.append(Exit(household.key, rng.choice(OTHER_EXIT_REASONS), ()))
            exiting.add(household.key)

    visit_satisfaction: dict[str, int | None] = {}
    for household in households:
        if rng.random() < size.visit_share:
            visit_satisfaction[household.key] = (
                rng.choices([1, 2, 3, 4, 5], weights=[5, 10, 20, 35, 30])[0] if rng.random() < 0.8 else None
            )

    # Claims: members of households that stay, one claim each (so every claim is a first admission).
    staying = [household for household in households if household.key not in exiting]
    candidates = [(household, m) for household in staying for m in household.members]
    claims = []
    for number, (household, m) in enumerate(rng.sample(candidates, min(size.claims, len(candidates))), start=1):
        total = _money(rng.randrange(3000, 90000, 10))
        in_policy = _money(float(total) * rng.uniform(0.7, 0.95))
        claims.append(
            Claim(
                household.key,
                m.key,
                f"H{district}-{rng.randrange(1, 6):02d}",
                f"S-{run}-{number:06d}",
                rng.choice([1, 2, 3]),
                today - dt.timedelta(days=rng.randrange(8, 30)),
                today - dt.timedelta(days=rng.randrange(0, 7)),
                total,
                in_policy,
            )
        )

    return District(
        run=run,
        district_code=district,
        cohort=f"sys-{run}",
        today=today,
        enrolled_on=enrolled_on,
        streets=streets,
        communities=communities,
        departments=departments,
        cadres=cadres,
        branches=branches,
        households=households,
        visit_satisfaction=visit_satisfaction,
        hires=hires,
        exits=exits,
        claims=claims,
    )


# --- the five lines of defense (DOMAIN.md section 9), default policy year, first admission -------------------

# The policy-year document is data (API.md's defaults); the lines below are computed independently of medical.
DEFAULT_POLICY_YEAR: dict[str, Any] = copy.deepcopy(DEFAULT_POLICY_YEAR_DOCUMENT)

CENT = Decimal("0.01")


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Settlement:
    basic: Decimal
    critical_illness: Decimal
    assistance: Decimal
    charity: Decimal
    supplementary: Decimal
    out_of_pocket: Decimal
    cap_met: bool | None


def settle_first_admission(
    category: str | None, insured: bool, level: int, total: Decimal, in_policy: Decimal, fund_remaining: Decimal
) -> Settlement:
    """The default policy year's five lines for a person's first admission of the year."""
    deductible = {1: Decimal("200"), 2: Decimal("400"), 3: Decimal("800")}[level]
    ratio = {1: Decimal("0.90"), 2: Decimal("0.70"), 3: Decimal("0.60")}[level]
    basic = _round(max(Decimal(0), in_policy - deductible) * ratio) if insured else Decimal("0.00")
    s1 = in_policy - basic
    critical_illness = Decimal("0.00")
    if insured:
        tilted = category in ("dibao", "tekun")
        threshold = Decimal("12000") * (Decimal("0.5") if tilted else 1)
        bonus = Decimal("0.05") if tilted else Decimal(0)
        bands = [(Decimal("30000"), Decimal("0.60")), (Decimal("100000"), Decimal("0.65")), (None, Decimal("0.75"))]
        paid, lower = Decimal(0), threshold
        for upper, band_ratio in bands:
            top = s1 if upper is None else min(s1, upper)
            if top > lower:
                paid += (top - lower) * min(Decimal(1), band_ratio + bonus)
            if upper is not None:
                lower = max(lower, upper)
        critical_illness = _round(paid)
    s2 = s1 - critical_illness
    assistance_ratio = {"dibao": Decimal("0.70"), "tekun": Decimal("0.90"), "low_income": Decimal("0.60")}
    assistance = _round(s2 * assistance_ratio[category]) if category in assistance_ratio else Decimal("0.00")
    s3 = s2 - assistance
    out_of_policy = total - in_policy
    charity = _round(out_of_policy * Decimal("0.50")) if category is not None else Decimal("0.00")
    charity = min(charity, Decimal("20000.00"))
    supplementary, cap_met = Decimal("0.00"), None
    if category in ("dibao", "tekun"):
        cap = _round(in_policy * Decimal("0.10"))
        need = max(Decimal(0), s3 - cap)
        supplementary = min(need, max(Decimal(0), fund_remaining))
        cap_met = s3 - supplementary <= cap
    out_of_pocket = total - basic - critical_illness - assistance - charity - supplementary
    return Settlement(basic, critical_illness, assistance, charity, supplementary, out_of_pocket, cap_met)
