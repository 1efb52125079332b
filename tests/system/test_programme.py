"""The programme scenario (issue 7): a whole district through the four services, checked against ground truth.

The four services run as separate processes (the `system` fixture). A seeded generator builds a district like
the reference programme; the scenario enrols it, auto-pairs it, records visits with satisfaction, runs a job fair
and hires people, settles medical claims, exits the chosen households, then reads every indicator the metrics
service offers and compares each with the figure computed here from the generator's own ground truth. Finally the
captured service logs and every published event are scanned for the names and ID numbers the generator created.

Isolation: every run has a fresh district code (so fresh streets and communities), a unique cohort label, fresh
department codes and settlement numbers. The district scope of metrics covers every household in the database,
so district-wide household indicators are read with `cohort=`; every indicator is also read per (fresh) street
and per (fresh) department.

The scenario's business dates are today's in Asia/Shanghai; a run that crosses midnight there may disagree with
the services about "today" (they read the clock themselves).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import json
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from uplift.common.testkit import auth

# The generator is a sibling module; test modules are imported in importlib mode, so put this folder on the path.
sys.path.insert(0, str(Path(__file__).parent))
from generator import (
    DEFAULT_POLICY_YEAR,
    LIFTED_REASONS,
    QUOTAS,
    District,
    DistrictSize,
    generate_district,
    settle_first_admission,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN = auth("district_admin")
ADMIN_PII = auth("district_admin", perms=("pii:read",))
# Medical lets only medical operators (and integrators with claims:write) settle claims, not district admins.
MEDICAL_OPERATOR = auth("medical_operator")
T = TypeVar("T")


def business_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int = 12) -> list[T]:
    """Run the jobs with at most `limit` in flight; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def expect(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url.path} → {response.status_code}: {response.text[:1500]}"
    )
    return response.json() if response.content else None


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus `months`; a day the target month lacks becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> str | None:
    if not denominator:
        return None
    return str((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, list[int]] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self._started, 2)
        print(f"[programme] {step}: {self.steps[step]}s", flush=True)
        self._started = now


@dataclass
class Ids:
    households: dict[str, str] = field(default_factory=dict)  # generator key → household id
    persons: dict[str, str] = field(default_factory=dict)  # member key → person id
    cadres: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    helper_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # household key → (kind, helper id)


@dataclass
class Outcome:
    """What the scenario observed beyond the generator's decisions (used for expectations)."""

    paired: set[str] = field(default_factory=set)  # household keys paired by auto-pairing
    hired: dict[str, Decimal] = field(default_factory=dict)  # member key → wage
    claim_results: dict[str, Any] = field(default_factory=dict)  # settlement no → expected Settlement
    policy_year: int | None = None
    fund_budget: Decimal | None = None
    fund_used: Decimal | None = None
    skipped: list[str] = field(default_factory=list)
    # The registry's parameters in force today (other tests of the session may have set their own).
    dibao_line: Decimal = Decimal("900.00")
    transition_months: int = 6
    quotas: dict[str, int] = field(default_factory=lambda: dict(QUOTAS))


# --- the steps -----------------------------------------------------------------------------------------------


async def create_org_units(registry: httpx.AsyncClient, district: District) -> None:
    async def post(body: dict[str, Any]) -> None:
        expect(await registry.post("/registry/v1/org-units", json=body, headers=ADMIN), 201, 409)

    await post({"code": district.district_code, "name": f"区{district.district_code}", "kind": "district"})
    await bounded(
        lambda s=street: post({"code": s, "name": f"街道{s}", "kind": "street", "parent_code": district.district_code})
        for street in district.streets
    )
    await bounded(
        lambda c=community, s=street: post({"code": c, "name": f"社区{c}", "kind": "community", "parent_code": s})
        for street, communities in district.communities.items()
        for community in communities
    )
    await bounded(
        lambda d=department: post(
            {
                "code": d.code,
                "name": d.name,
                "kind": "department",
                "parent_code": district.district_code,
                "linked_streets": d.linked_streets,
            }
        )
        for department in district.departments
    )


async def create_helpers(registry: httpx.AsyncClient, district: District, ids: Ids) -> None:
    async def cadre(c: Any) -> None:
        body = {
            "name": c.name,
            "rank": c.rank,
            "department_code": c.department_code,
            "home_street_code": c.home_street_code,
        }
        ids.cadres[c.key] = expect(await registry.post("/registry/v1/cadres", json=body, headers=ADMIN), 201)["id"]

    async def branch(b: Any) -> None:
        body = {"name": b.name, "department_code": b.department_code, "community_code": b.community_code}
        created = expect(await registry.post("/registry/v1/party-branches", json=body, headers=ADMIN), 201)
        ids.branches[b.key] = created["id"]

    await bounded(lambda c=c: cadre(c) for c in district.cadres)
    await bounded(lambda b=b: branch(b) for b in district.branches)


async def enrol(registry: httpx.AsyncClient, district: District, ids: Ids, timings: Timings) -> None:
    latencies: list[float] = []

    async def one(household: Any) -> None:
        body = household.body(district.cohort, district.enrolled_on)
        started = time.monotonic()
        answer = await registry.post("/registry/v1/households", json=body, headers=ADMIN)
        latencies.append(time.monotonic() - started)
        created = expect(answer, 201)
        ids.households[household.key] = created["id"]
        assert len(created["person_ids"]) == len(household.members)
        for member, person_id in zip(household.members, created["person_ids"], strict=True):
            ids.persons[member.key] = person_id

    await bounded(lambda h=h: one(h) for h in district.households)
    latencies.sort()
    timings.latencies["POST /households (ms, p50 / p95, 12 in flight)"] = [
        round(latencies[len(latencies) // 2] * 1000),
        round(latencies[int(len(latencies) * 0.95)] * 1000),
    ]
    # The person ids come back in the order the members were sent: check it on a few households.
    for household in district.households[:3]:
        read = expect(
            await registry.get(f"/registry/v1/households/{ids.households[household.key]}", headers=ADMIN_PII), 200
        )
        by_person = {m["person_id"]: m for m in read["members"]}
        for member in household.members:
            shown = by_person[ids.persons[member.key]]
            assert (shown["name"], shown["id_number"]) == (member.name, member.id_number)


async def auto_pair(registry: httpx.AsyncClient, district: District, ids: Ids, outcome: Outcome) -> None:
    answer = expect(
        await registry.post("/registry/v1/pairings:auto", json={"scope_code": district.district_code}, headers=ADMIN),
        200,
    )
    ours = set(ids.households.values())
    assert not ours & {str(h) for h in answer["unpaired"]}, "capacity covers the cohort, yet households were left"
    assert answer["assigned"] + answer["kept"] >= len(ours)
    key_of = {household_id: key for key, household_id in ids.households.items()}
    load: Counter[tuple[str, str]] = Counter()
    for street in district.streets:
        cursor = None
        while True:
            params: dict[str, Any] = {"street_code": street, "active": "true", "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = expect(await registry.get("/registry/v1/pairings", params=params, headers=ADMIN), 200)
            for pairing in page["items"]:
                key = key_of.get(pairing["household_id"])
                if key is not None:
                    assert key not in ids.helper_of, f"household {key} has two active helpers"
                    ids.helper_of[key] = (pairing["helper_kind"], pairing["helper_id"])
                    load[(pairing["helper_kind"], pairing["helper_id"])] += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert set(ids.helper_of) == set(ids.households), "every household of the cohort has exactly one active helper"
    outcome.paired = set(ids.helper_of)
    rank_of = {ids.cadres[c.key]: c.rank for c in district.cadres}
    for (kind, helper_id), count in load.items():
        quota = outcome.quotas["branch"] if kind == "branch" else outcome.quotas.get(rank_of.get(helper_id, ""), 5)
        assert count <= quota, f"{kind} {helper_id} holds {count} households, over its quota {quota}"


async def record_visits(registry: httpx.AsyncClient, district: District, ids: Ids) -> None:
    async def one(key: str, satisfaction: int | None) -> None:
        body: dict[str, Any] = {"visited_on": district.today.isoformat(), "needs": []}
        if satisfaction is not None:
            body["satisfaction"] = satisfaction
        visit = expect(
            await registry.post(f"/registry/v1/households/{ids.households[key]}/visits", json=body, headers=ADMIN), 201
        )
        assert visit["satisfaction"] == satisfaction
        assert (visit["helper"]["kind"], str(visit["helper"]["id"])) == ids.helper_of[key]

    await bounded(lambda k=k, s=s: one(k, s) for k, s in district.visit_satisfaction.items())


async def job_fair_and_hires(
    matching: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    district: District,
    ids: Ids,
    outcome: Outcome,
    wait: float,
) -> None:
    hires = {hire.member_key: hire for hire in district.hires}
    person_to_member = {ids.persons[key]: key for key in hires}

    async def all_seekers() -> bool:
        answers = await bounded(
            lambda p=p: matching.get(f"/matching/v1/seekers/{p}", headers=ADMIN) for p in person_to_member
        )
        return all(answer.status_code == 200 for answer in answers)

    await poll(all_seekers, timeout=wait, what="the hired persons projected as seekers in matching")

    by_street: Counter[str] = Counter(district.households_by_key[h.household_key].street_code for h in hires.values())
    posting_ids = []
    for street, openings in sorted(by_street.items()):
        employer = expect(
            await matching.post(
                "/matching/v1/employers", json={"name": f"就业基地{street}", "street_code": street}, headers=ADMIN
            ),
            201,
        )
        posting = expect(
            await matching.post(
                "/matching/v1/postings",
                json={
                    "employer_id": employer["id"],
                    "occupation": "保洁员",
                    "monthly_wage": "3000.00",
                    "weekly_hours": 40,
                    "street_code": street,
                    "physical_demand": "light",
                    "accessible": True,
                    "openings": openings,
                    "valid_from": (district.today - dt.timedelta(days=1)).isoformat(),
                },
                headers=ADMIN,
            ),
            201,
        )
        posting_ids.append(posting["id"])
    fair = expect(
        await matching.post(
            "/matching/v1/job-fairs",
            json={
                "name": f"招聘会 {district.run}",
                "held_on": district.today.isoformat(),
                "posting_ids": posting_ids,
                "seeker_ids": list(person_to_member),
            },
            headers=ADMIN,
        ),
        201,
    )
    result = expect(await matching.post(f"/matching/v1/job-fairs/{fair['id']}:assign", headers=ADMIN), 200)
    assert result["filled"] == len(hires), f"openings = invited seekers, all feasible: {result['filled']} filled"
    assert (result["objective"]["tier1_matched"], result["objective"]["tier2_matched"]) >= (
        result["greedy"]["tier1_matched"],
        result["greedy"]["tier2_matched"],
    )

    async def hire(assignment: dict[str, Any]) -> None:
        member_key = person_to_member[assignment["person_id"]]
        wage = hires[member_key].monthly_wage
        url = f"/matching/v1/applications/{assignment['application_id']}:transition"
        application = expect(
            await matching.get(f"/matching/v1/applications/{assignment['application_id']}", headers=ADMIN), 200
        )
        for step in ("applied", "interviewed", "hired"):
            if application["status"] == "hired":
                break
            if step not in application["allowed_transitions"]:
                continue
            body: dict[str, Any] = {"to": step, "on": district.today.isoformat()}
            if step == "hired":
                body["monthly_wage"] = f"{wage:.2f}"
            application = expect(await matching.post(url, json=body, headers=ADMIN), 200)
        assert application["status"] == "hired", application
        assert application["placement"]["monthly_wage"] == f"{wage:.2f}"
        outcome.hired[member_key] = wage

    await bounded(lambda a=a: hire(a) for a in result["assignments"])
    assert set(outcome.hired) == set(hires)

    # matching.placement.hired reaches the registry: each wage joins its household's monthly income.
    wages: dict[str, Decimal] = defaultdict(Decimal)
    for member_key, wage in outcome.hired.items():
        wages[hires[member_key].household_key] += wage

    async def incomes_updated() -> bool:
        answers = await bounded(
            lambda k=k: registry.get(f"/registry/v1/households/{ids.households[k]}", headers=ADMIN) for k in wages
        )
        return all(
            a.status_code == 200 and Decimal(a.json()["placement_wages"]) == wages[k]
            for k, a in zip(wages, answers, strict=True)
        )

    await poll(incomes_updated, timeout=wait, what="the hires' wages in the registry households' income")

    # DOMAIN.md section 3: a hire that lifts per-capita income above the line starts a transition today.
    answers = await bounded(
        lambda k=k: registry.get(f"/registry/v1/households/{ids.households[k]}", headers=ADMIN) for k in wages
    )
    wrong = []
    for key, answer in zip(wages, answers, strict=True):
        household = district.households_by_key[key]
        per_capita = (household.monthly_income + wages[key]) / len(household.members)
        want: tuple[str, str | None, str | None] = ("enrolled", None, None)
        if per_capita > outcome.dibao_line:
            ends_on = add_months(district.today, outcome.transition_months)
            want = ("transition", district.today.isoformat(), ends_on.isoformat())
        body = answer.json()
        transition = body.get("transition") or {}
        got = (body["status"], transition.get("starts_on"), transition.get("ends_on"))
        if got != want:
            wrong.append(f"{key} ({ids.households[key]}, per capita {per_capita:.2f}): got {got}, want {want}")
    assert not wrong, "households after a hire:\n" + "\n".join(wrong)


async def settle_claims(
    medical: httpx.AsyncClient, district: District, ids: Ids, outcome: Outcome, wait: float
) -> None:
    years = {claim.discharged_on.year for claim in district.claims}
    assert len(years) == 1, "the generator puts every claim in one policy year"
    year = years.pop()
    outcome.policy_year = year
    put = await medical.put(f"/medical/v1/policy-years/{year}", json=DEFAULT_POLICY_YEAR, headers=ADMIN)
    if put.status_code == 409:
        # Another test of this session settled claims of the year under other parameters: the ground truth here
        # assumes the defaults, so the claims step is left out (and the test reports it as skipped at the end).
        outcome.skipped.append(f"medical claims: policy year {year} is frozen with other parameters: {put.text[:300]}")
        return
    expect(put, 200, 201)
    used_before = Decimal(
        expect(await medical.get(f"/medical/v1/funds/{year}", headers=ADMIN), 200)["supplementary"]["used"]
    )

    # What every claim needs from the supplementary fund with no limit; then a budget that covers about 60% of
    # it, so the fund runs short part-way and later dibao/tekun claims come out with cap_met = false.
    def category_of(claim: Any) -> str:
        return district.households_by_key[claim.household_key].category

    unlimited = [
        settle_first_admission(
            category_of(c),
            district.members_by_key[c.member_key].medical_insured,
            c.hospital_level,
            c.total,
            c.in_policy,
            Decimal("1e12"),
        )
        for c in district.claims
    ]
    need = sum((s.supplementary for s in unlimited), Decimal(0))
    short_budget = used_before + (need * Decimal("0.6")).quantize(Decimal("0.01"))
    document = json.loads(json.dumps(DEFAULT_POLICY_YEAR))
    document["supplementary"]["budget"] = f"{short_budget:.2f}"
    expect(await medical.put(f"/medical/v1/policy-years/{year}", json=document, headers=ADMIN), 200, 201)

    persons = [ids.persons[c.member_key] for c in district.claims]

    async def all_insured_known() -> bool:
        answers = await bounded(
            lambda p=p: medical.get(f"/medical/v1/persons/{p}/accumulators", params={"year": year}, headers=ADMIN)
            for p in persons
        )
        return all(a.status_code == 200 for a in answers)

    await poll(all_insured_known, timeout=wait, what="the claimants known to medical through registry events")

    remaining = short_budget - used_before
    mismatches = []
    for claim in district.claims:  # one at a time, in order: the fund runs out at a known claim
        expected = settle_first_admission(
            category_of(claim),
            district.members_by_key[claim.member_key].medical_insured,
            claim.hospital_level,
            claim.total,
            claim.in_policy,
            remaining,
        )
        remaining -= expected.supplementary
        outcome.claim_results[claim.settlement_no] = (claim, expected)
        answer = expect(
            await medical.post(
                "/medical/v1/claims", json=claim.body(ids.persons[claim.member_key]), headers=MEDICAL_OPERATOR
            ),
            201,
        )
        lines = {line["payer"]: Decimal(line["amount"]) for line in answer["lines"]}
        got = (
            answer["category"],
            lines.get("basic"),
            lines.get("critical_illness"),
            lines.get("assistance"),
            lines.get("charity"),
            lines.get("supplementary"),
            Decimal(answer["out_of_pocket"]),
            answer["cap_met"],
        )
        want = (
            category_of(claim),
            expected.basic,
            expected.critical_illness,
            expected.assistance,
            expected.charity,
            expected.supplementary,
            expected.out_of_pocket,
            expected.cap_met,
        )
        if got != want:
            mismatches.append(f"{claim.settlement_no} {claim}: got {got}, want {want}")
    assert not mismatches, "claims settled differently from the five lines:\n" + "\n".join(mismatches)
    assert need == 0 or any(e.cap_met is False for _, e in outcome.claim_results.values()), "the fund ran short"

    funds = expect(await medical.get(f"/medical/v1/funds/{year}", headers=ADMIN), 200)["supplementary"]
    spent = sum((e.supplementary for _, e in outcome.claim_results.values()), Decimal(0))
    assert Decimal(funds["used"]) == used_before + spent
    # Restore the default budget (budgets may change on a frozen year, never below what is used).
    expect(await medical.put(f"/medical/v1/policy-years/{year}", json=DEFAULT_POLICY_YEAR, headers=ADMIN), 200, 201)
    outcome.fund_budget = Decimal(DEFAULT_POLICY_YEAR["supplementary"]["budget"])
    # The indicator sums the supplementary paid on the district's claims; this run's district is fresh, so only
    # its own claims count there (the fund itself, checked above, also holds other tests' claims of the year).
    outcome.fund_used = spent


async def exit_households(registry: httpx.AsyncClient, district: District, ids: Ids) -> None:
    async def one(exit: Any) -> None:
        body: dict[str, Any] = {"reason": exit.reason, "exited_on": district.today.isoformat()}
        if exit.employed_member_keys:
            body["employed_person_ids"] = [ids.persons[k] for k in exit.employed_member_keys]
        answer = expect(
            await registry.post(
                f"/registry/v1/households/{ids.households[exit.household_key]}:exit", json=body, headers=ADMIN
            ),
            200,
        )
        assert answer["status"] == "exited" and answer["exit"]["reason"] == exit.reason

    await bounded(lambda e=e: one(e) for e in district.exits)


# --- expectations from ground truth --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    numerator: int | Decimal | None
    denominator: int | Decimal | None

    @property
    def value(self) -> str | None:
        if self.denominator is None:
            return None if self.numerator is None else str(self.numerator)
        return ratio(self.numerator or 0, self.denominator)


def expected_indicators(district: District, outcome: Outcome, households: list[Any]) -> dict[str, Expected]:
    """Every indicator over `households` (a street's or the cohort's) for the scenario's period."""
    keys = {h.key for h in households}
    exits = {e.household_key: e for e in district.exits if e.household_key in keys}
    lifted = [k for k, e in exits.items() if e.reason in LIFTED_REASONS]
    hired_persons = {m for m in outcome.hired if m.split("-")[0] in keys}  # member keys are "<household>-m<n>"
    hired_households = {m.split("-")[0] for m in hired_persons}
    staying = keys - set(exits)
    paired_at_end = (outcome.paired & keys) - set(exits)
    visited = {k for k in district.visit_satisfaction if k in keys}
    rated = [s for k, s in district.visit_satisfaction.items() if k in keys and s is not None]
    capped = [e.cap_met for c, e in outcome.claim_results.values() if c.household_key in keys and e.cap_met is not None]
    return {
        "exit_rate": Expected(len(lifted), len(keys)),
        "employment_gain_rate": Expected(len(hired_households), len(keys)),
        "persons_employed": Expected(len(hired_persons), None),
        "satisfaction_rate": Expected(sum(1 for s in rated if s >= 4), len(rated)),
        "pairing_coverage": Expected(len(paired_at_end & staying), len(staying)),
        "visit_compliance": Expected(len(visited & paired_at_end), len(paired_at_end)),
        "relapse_rate": Expected(0, 0),
        "retention_6m": Expected(0, 0),
        "medical_cap_rate": Expected(sum(1 for met in capped if met), len(capped)),
    }


def as_number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def check_indicators(
    metrics: httpx.AsyncClient, district: District, ids: Ids, outcome: Outcome, wait: float
) -> dict[str, Any]:
    offered = expect(await metrics.get("/metrics/v1/indicators", headers=ADMIN), 200)["items"]
    names = {item["name"] for item in offered}
    period = f"{(district.today - dt.timedelta(days=60)).isoformat()}..{district.today.isoformat()}"
    household_based = {"exit_rate", "employment_gain_rate", "pairing_coverage", "visit_compliance", "relapse_rate"}

    queries: list[tuple[str, dict[str, str], Expected]] = []
    for street in district.streets:
        in_street = [h for h in district.households if h.street_code == street]
        for name, want in expected_indicators(district, outcome, in_street).items():
            queries.append((name, {"scope": street, "period": period}, want))
    # Departments hold the households their cadres and branches were paired with (and the visits they made).
    department_of = {ids.cadres[c.key]: c.department_code for c in district.cadres}
    department_of.update({ids.branches[b.key]: b.department_code for b in district.branches if b.department_code})
    for department in district.departments[:12]:
        held = [h for h in district.households if department_of.get(ids.helper_of[h.key][1]) == department.code]
        for name, want in expected_indicators(district, outcome, held).items():
            queries.append((name, {"scope": f"department:{department.code}", "period": period}, want))
    cohort_expectations = expected_indicators(district, outcome, district.households)
    for name in household_based:
        queries.append(
            (
                name,
                {"scope": district.district_code, "period": period, "cohort": district.cohort},
                cohort_expectations[name],
            )
        )
    if outcome.fund_budget is not None and outcome.fund_used is not None:
        queries.append(
            (
                "supplementary_fund_used",
                {"scope": district.district_code, "period": str(outcome.policy_year)},
                Expected(outcome.fund_used, outcome.fund_budget),
            )
        )
    unchecked = names - {name for name, _, _ in queries}
    assert not unchecked, f"metrics offers indicators the scenario does not check: {sorted(unchecked)}"

    last: dict[int, Any] = {}

    def matches(index: int, answer: dict[str, Any]) -> bool:
        _, _, want = queries[index]
        return (
            as_number(answer.get("numerator")) == as_number(want.numerator)
            and as_number(answer.get("denominator")) == as_number(want.denominator)
            and as_number(answer.get("value")) == as_number(want.value)
        )

    async def all_match() -> bool:
        answers = await bounded(
            lambda q=q: metrics.get(f"/metrics/v1/indicators/{q[0]}", params=q[1], headers=ADMIN) for q in queries
        )
        ok = True
        for index, answer in enumerate(answers):
            last[index] = (answer.status_code, answer.json() if answer.content else None)
            ok = ok and answer.status_code == 200 and matches(index, answer.json())
        return ok

    try:
        await poll(all_match, timeout=wait, what="metrics to agree with the ground truth", interval=1.0)
    except AssertionError:
        wrong = [
            f"{name} {params}: got {last[i]}, want numerator={want.numerator} denominator={want.denominator} "
            f"value={want.value}"
            for i, (name, params, want) in enumerate(queries)
            if last[i][0] != 200 or not matches(i, last[i][1])
        ]
        raise AssertionError(f"{len(wrong)} of {len(queries)} indicators disagree:\n" + "\n".join(wrong)) from None
    return {
        "indicators_checked": len(queries),
        "names": sorted(names),
        "cohort_exit_rate": cohort_expectations["exit_rate"].value,
    }


# --- personal data scan --------------------------------------------------------------------------------------

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_DIGIT_RUN = re.compile(r"[0-9Xx]+")


def _windows(runs: Iterable[str], width: int) -> set[str]:
    found = set()
    for run in runs:
        for start in range(0, len(run) - width + 1):
            found.add(run[start : start + width])
    return found


def personal_data_found(text: str, district: District) -> dict[str, list[str]]:
    """Which of the generator's names, ID numbers and phones occur in `text` (any position)."""
    cjk = _CJK_RUN.findall(text)
    digits = [run.upper() for run in _DIGIT_RUN.findall(text)]
    windows = {3: _windows(cjk, 3), 18: _windows(digits, 18), 11: _windows(digits, 11)}
    found = {}
    for what, values in district.personal_strings().items():
        hits = sorted(v for v in values if v.upper() in windows[len(v)] or (len(v) not in windows and v in text))
        if hits:
            found[what] = hits[:10]
    return found


def readable_log(raw: str) -> str:
    """Log lines are JSON with non-ASCII escaped: decode them so a name appears as itself."""
    out = []
    for line in raw.splitlines():
        try:
            out.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            out.append(line)
    return "\n".join(out)


async def published_envelopes(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        texts = []
        for schema in ("registry", "matching", "medical", "metrics"):
            tables = await connection.fetch(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = $1 AND column_name = 'envelope'",
                schema,
            )
            for table in tables:
                rows = await connection.fetch(f'SELECT envelope::text AS e FROM "{schema}"."{table["table_name"]}"')
                texts.extend(row["e"] for row in rows)
        return "\n".join(texts)
    finally:
        await connection.close()


# --- the scenario --------------------------------------------------------------------------------------------


async def run_programme(clients: Any, system: Any, size: DistrictSize, seed: int, wait: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    district = generate_district(size, seed, business_today(), run)
    ids, outcome, timings = Ids(), Outcome(), Timings()

    parameters = expect(
        await clients.registry.get("/registry/v1/parameters", params={"on": district.today.isoformat()}, headers=ADMIN),
        200,
    )
    outcome.dibao_line = Decimal(parameters["dibao_line"])
    outcome.transition_months = int(parameters["transition_months"])
    outcome.quotas = {kind: int(quota) for kind, quota in parameters["quotas"].items()}
    await create_org_units(clients.registry, district)
    await create_helpers(clients.registry, district, ids)
    timings.lap("org units and helpers")
    await enrol(clients.registry, district, ids, timings)
    timings.lap("enrolment")
    await auto_pair(clients.registry, district, ids, outcome)
    timings.lap("auto-pairing")
    await record_visits(clients.registry, district, ids)
    timings.lap("visits")
    await job_fair_and_hires(clients.matching, clients.registry, district, ids, outcome, wait)
    timings.lap("job fair and hires")
    await settle_claims(clients.medical, district, ids, outcome, wait)
    timings.lap("medical claims")
    await exit_households(clients.registry, district, ids)
    timings.lap("exits")
    checked = await check_indicators(clients.metrics, district, ids, outcome, wait)
    timings.lap("metrics agree")

    # Personal data never appears in the services' logs nor in any published event.
    logs = {name: readable_log(text) for name, text in system.logs().items()}
    envelopes = await published_envelopes(system.asyncpg_dsn)
    # The scan is not vacuous: it sees the scenario's events and logs, and it finds PII where there is some.
    assert all(ids.households[h.key] in envelopes for h in district.households), "every enrolment was published"
    assert all(f'"service": "{name}"' in text for name, text in logs.items()), "every service logged JSON lines"
    sample = json.dumps(district.households[0].body(district.cohort, district.enrolled_on), ensure_ascii=False)
    head = district.households[0].members[0]
    assert personal_data_found(sample, district) == {
        "member names": sorted(m.name for m in district.households[0].members),
        "ID numbers": sorted(m.id_number for m in district.households[0].members),
        "phones": [head.phone],
    }
    leaks = {f"log of {name}": personal_data_found(text, district) for name, text in logs.items()}
    leaks["events (envelope columns)"] = personal_data_found(envelopes, district)
    leaks = {where: found for where, found in leaks.items() if found}
    timings.lap("PII scan")
    assert not leaks, f"personal data found: {leaks} (logs in {system.log_dir})"
    return {
        "households": len(district.households),
        "hires": len(outcome.hired),
        "exits": len(district.exits),
        "claims": len(district.claims),
        **checked,
        "timings": timings.steps,
        "latencies": timings.latencies,
        "skipped": outcome.skipped,
    }


async def test_a_small_district_goes_through_the_programme_and_metrics_agree_with_ground_truth(
    clients: Any, system: Any
) -> None:
    report = await run_programme(clients, system, DistrictSize.small(), seed=2026, wait=45.0)
    print(json.dumps(report, ensure_ascii=False))
    if report["skipped"]:
        pytest.skip("; ".join(report["skipped"]))


@pytest.mark.soak
@pytest.mark.timeout(1800)
async def test_the_reference_district_goes_through_the_programme_and_metrics_agree_with_ground_truth(
    clients: Any, system: Any
) -> None:
    report = await run_programme(clients, system, DistrictSize.reference(), seed=2026, wait=300.0)
    print(json.dumps(report, ensure_ascii=False))
    # DOMAIN.md section 10's reference figure: 690 of 3,407 households lifted out → 0.2025, and metrics agreed.
    assert report["cohort_exit_rate"] == "0.2025"
    if report["skipped"]:
        pytest.skip("; ".join(report["skipped"]))
