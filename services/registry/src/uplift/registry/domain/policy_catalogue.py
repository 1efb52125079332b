"""The seed policy toolbox (政策工具箱): ten areas and their policies with CEL eligibility rules.

Operators edit policies afterwards without code changes; this is only what a new district starts with. The
rules use the attributes listed in `eligibility` (and its derived `working_age` and `dibao_line`, so a change of
retirement age or dibao line needs no rule edits). Disability levels follow the certificate: 1 is the most
severe, 4 the mildest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyArea:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class PolicyDefinition:
    code: str
    area: str
    name_zh: str
    name_en: str
    description: str
    eligibility: str  # CEL over `household` and `person`


POLICY_AREAS: tuple[PolicyArea, ...] = (
    PolicyArea("employment", "就业创业", "Employment and entrepreneurship"),
    PolicyArea("education", "助学", "Education support"),
    PolicyArea("health", "健康", "Health"),
    PolicyArea("elderly_care", "养老", "Elderly care"),
    PolicyArea("disability", "助残", "Disability support"),
    PolicyArea("social_assistance", "社会救助", "Social assistance"),
    PolicyArea("insurance_subsidy", "参保补贴", "Pension and medical insurance subsidies"),
    PolicyArea("housing", "住房", "Housing"),
    PolicyArea("motivation", "精神扶贫", "Motivation"),
    PolicyArea("social_participation", "社会参与", "Social participation"),
)

_IN_PROGRAMME = 'household.status in ["enrolled", "transition"]'
_JOBLESS_AND_ABLE = 'person.working_age && person.work_ability != "none" && person.employment_status == "unemployed"'
_ASSISTED = 'household.category in ["dibao", "tekun", "low_income"]'

SEED_POLICIES: tuple[PolicyDefinition, ...] = (
    # 就业创业
    PolicyDefinition(
        "employment.job_referral",
        "employment",
        "就业援助与岗位推荐",
        "Job referral",
        "Matching with open postings and job fairs for working-age members able to work and out of work.",
        _JOBLESS_AND_ABLE,
    ),
    PolicyDefinition(
        "employment.public_welfare_job",
        "employment",
        "公益性岗位安置",
        "Public-welfare job",
        "Public-welfare posts for hard-to-employ members of households in the programme: zero-employment "
        "households, disabled members, women from 40 and men from 50 (4050 人员).",
        f"{_IN_PROGRAMME} && {_JOBLESS_AND_ABLE} && (household.zero_employment || person.disability_level >= 1"
        ' || (person.sex == "female" && person.age >= 40) || (person.sex == "male" && person.age >= 50))',
    ),
    PolicyDefinition(
        "employment.vocational_training",
        "employment",
        "职业技能培训补贴",
        "Vocational training subsidy",
        "Free vocational training with a living allowance for members out of work with few skills or little schooling.",
        f'{_JOBLESS_AND_ABLE} && (size(person.skills) == 0 || person.education in ["none", "primary", "junior_high"])',
    ),
    PolicyDefinition(
        "employment.startup_loan",
        "employment",
        "创业担保贷款及贴息",
        "Start-up guarantee loan",
        "Guaranteed, interest-subsidised loans and start-up grants for members able to run a small business.",
        'person.working_age && person.age >= 18 && person.work_ability == "full" '
        '&& person.employment_status in ["unemployed", "employed"]',
    ),
    PolicyDefinition(
        "employment.zero_employment_aid",
        "employment",
        "零就业家庭援助",
        "Zero-employment household aid",
        "At least one member of a zero-employment household placed in work within a month of registration.",
        f"{_IN_PROGRAMME} && household.zero_employment",
    ),
    # 助学
    PolicyDefinition(
        "education.compulsory_schooling_aid",
        "education",
        "义务教育阶段资助",
        "Compulsory schooling aid",
        "Boarding and meal allowances for pupils of assisted households in compulsory schooling.",
        f'{_ASSISTED} && person.employment_status == "student" && person.age >= 6 && person.age < 16',
    ),
    PolicyDefinition(
        "education.high_school_grant",
        "education",
        "普通高中及中职国家助学金",
        "High-school and vocational-school grant",
        "State grants and fee waivers for senior-high and secondary vocational students of assisted households.",
        f'{_ASSISTED} && person.employment_status == "student" && person.age >= 15 && person.age < 20',
    ),
    PolicyDefinition(
        "education.college_entry_aid",
        "education",
        "大学新生入学资助",
        "College entry aid",
        "A one-off grant and student-loan advice for members of assisted households entering college.",
        f'{_ASSISTED} && person.employment_status == "student" && person.age >= 17 '
        '&& person.education in ["senior_high", "vocational", "college", "bachelor"]',
    ),
    # 健康
    PolicyDefinition(
        "health.family_doctor",
        "health",
        "家庭医生签约服务",
        "Family doctor",
        "A contracted family doctor for members with a chronic or serious illness, a disability, or aged 65+.",
        "person.chronic_illness || person.disability_level >= 1 || person.age >= 65",
    ),
    PolicyDefinition(
        "health.chronic_outpatient",
        "health",
        "门诊慢特病待遇",
        "Chronic-disease outpatient cover",
        "Outpatient treatment of chronic and special diseases reimbursed like inpatient care.",
        "person.chronic_illness && person.medical_insured",
    ),
    PolicyDefinition(
        "health.medical_assistance",
        "health",
        "医疗救助",
        "Medical assistance",
        "Government medical assistance after basic and critical-illness insurance for households impoverished "
        "by illness.",
        f'{_ASSISTED} && "illness" in household.causes',
    ),
    # 养老
    PolicyDefinition(
        "elderly_care.home_care_subsidy",
        "elderly_care",
        "居家养老服务补贴",
        "Home-care subsidy",
        "Vouchers for home-care services for members aged 70 and over, or over retirement age and unable "
        "to look after themselves.",
        'person.age >= 70 || (!person.working_age && person.age >= 16 && person.work_ability == "none")',
    ),
    PolicyDefinition(
        "elderly_care.old_age_allowance",
        "elderly_care",
        "高龄津贴",
        "Old-age allowance",
        "A monthly allowance for members aged 80 and over.",
        "person.age >= 80",
    ),
    # 助残
    PolicyDefinition(
        "disability.living_allowance",
        "disability",
        "困难残疾人生活补贴",
        "Living allowance for disabled people in need",
        "A monthly living allowance for disabled members of assisted households.",
        f"{_ASSISTED} && person.disability_level >= 1",
    ),
    PolicyDefinition(
        "disability.nursing_subsidy",
        "disability",
        "重度残疾人护理补贴",
        "Nursing subsidy for severe disability",
        "A monthly nursing subsidy for members with a level 1 or 2 disability certificate.",
        "person.disability_level >= 1 && person.disability_level <= 2",
    ),
    PolicyDefinition(
        "disability.remote_work_training",
        "disability",
        "残疾人居家就业培训",
        "Remote-work training for disabled people",
        "Training for remote customer-service work, with equipment, for disabled members able to work.",
        f'{_JOBLESS_AND_ABLE} && person.disability_level >= 1 && !(person.education in ["none", "primary"])',
    ),
    # 社会救助
    PolicyDefinition(
        "social_assistance.dibao_allowance",
        "social_assistance",
        "最低生活保障金",
        "Minimum living allowance (dibao)",
        "The monthly dibao allowance, continued through the transition period (渐退期).",
        f'{_IN_PROGRAMME} && household.category == "dibao"',
    ),
    PolicyDefinition(
        "social_assistance.tekun_support",
        "social_assistance",
        "特困人员救助供养",
        "Support for people in extreme poverty (tekun)",
        "Basic living support and care for members of tekun households.",
        f'{_IN_PROGRAMME} && household.category == "tekun"',
    ),
    PolicyDefinition(
        "social_assistance.temporary_assistance",
        "social_assistance",
        "临时救助",
        "Temporary assistance",
        "One-off help for a sudden hardship (illness, accident) of a household at or below the dibao line.",
        f"{_IN_PROGRAMME} && household.per_capita_income <= household.dibao_line "
        '&& ("illness" in household.causes || "other" in household.causes)',
    ),
    # 参保补贴
    PolicyDefinition(
        "insurance_subsidy.pension_contribution",
        "insurance_subsidy",
        "城乡居民养老保险代缴",
        "Residents' pension contribution paid",
        "The government pays the minimum residents' pension contribution for uninsured members of assisted "
        "households (no one without a pension later: 新“三无”).",
        f'{_ASSISTED} && !person.pension_insured && person.age >= 16 && person.employment_status != "student"',
    ),
    PolicyDefinition(
        "insurance_subsidy.medical_contribution",
        "insurance_subsidy",
        "医保参保资助",
        "Medical insurance contribution subsidy",
        "Full or partial payment of the residents' medical insurance contribution for uninsured members.",
        f"{_ASSISTED} && !person.medical_insured",
    ),
    # 住房
    PolicyDefinition(
        "housing.public_rental",
        "housing",
        "公共租赁住房保障",
        "Public rental housing",
        "Public rental housing or a rent allowance for dibao and tekun households, and for low-income ones "
        "below 1.5 times the dibao line.",
        'household.category in ["dibao", "tekun"] || (household.category == "low_income" '
        "&& household.per_capita_income < household.dibao_line * 1.5)",
    ),
    PolicyDefinition(
        "housing.accessibility_renovation",
        "housing",
        "适老化及无障碍改造",
        "Accessibility renovation",
        "Home adaptations for elderly and disabled members (grab bars, ramps, bathroom refits).",
        "person.age >= 65 || person.disability_level >= 1",
    ),
    # 精神扶贫
    PolicyDefinition(
        "motivation.aspiration_mentoring",
        "motivation",
        "扶志扶智结对帮扶",
        "Aspiration mentoring",
        "Regular mentoring by the paired helper and a role model for households without work or after prison "
        "or drug rehabilitation.",
        f'{_IN_PROGRAMME} && (household.zero_employment || "released_prisoner" in household.causes '
        '|| "drug_rehabilitation" in household.causes)',
    ),
    PolicyDefinition(
        "motivation.model_household",
        "motivation",
        "自主脱贫示范户评选",
        "Self-reliance model household",
        "Recognition and a small prize for households that leave poverty through work, as an example to others.",
        'household.status == "transition"',
    ),
    # 社会参与
    PolicyDefinition(
        "social_participation.volunteer_points",
        "social_participation",
        "志愿服务积分超市",
        "Volunteer points shop",
        "Community volunteering earns points exchanged for daily necessities.",
        'person.age >= 16 && person.employment_status != "student" && person.work_ability != "none"',
    ),
    PolicyDefinition(
        "social_participation.community_integration",
        "social_participation",
        "社区融入服务",
        "Community integration",
        "Social-work support to settle into the community for migrants from rural areas and people released "
        "from prison.",
        '"migrant_from_rural" in household.causes || "released_prisoner" in household.causes',
    ),
)
