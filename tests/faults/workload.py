"""A steady stream of writes across the four services, as a careful client sends it, for the fault tests.

The district comes from the scenario's seeded generator (tests/system/generator.py), so every run of the same seed
sends the same requests. The set-up (org units, helpers, policy years, employers and postings) is sent before any
fault. Then every household runs as a chain of its own, several chains at once:

    enrol → pair with its planned helper → visit → [wait until matching knows the seeker → apply → interview →
    hire → wait until the registry has the wage] → [wait until medical knows the claimant → settle the claim]
    → [exit]

Each step waits for what it depends on, so the final state does not depend on timing: a chain never races its
own events, and two chains never touch the same thing (each household has its own helper slot and claims; the
fund's budget is ample, so no claim depends on another's order).

The client is what a careful integrator writes: every write carries an `Idempotency-Key` derived from the step,
and it is sent again — with the same key — after a connection error, a timeout, a 5xx, or a 409 that says the
key is still in progress or was taken over. A 409 `answer_lost` (the write committed, its answer died with the
process) is resolved by reading the resource. `StreamStats` counts what the client went through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from uplift.common.testkit import auth

ADMIN = auth("district_admin")
MEDICAL_OPERATOR = auth("medical_operator")
# Long enough for a service to be killed and restarted, or for PostgreSQL or NATS to come back.
GIVE_UP_AFTER_SECONDS = 150.0
REQUEST_TIMEOUT_SECONDS = 10.0
RETRY_PAUSE_SECONDS = 0.25
RETRIED_CONFLICTS = ("in_progress", "taken_over")


@dataclass
class Outage:
    """What one service looked like from the client: first failed attempt to first success after it."""

    service: str
    started: float
    ended: float | None = None


@dataclass
class StreamStats:
    writes: Counter[str] = field(default_factory=Counter)  # service → writes that succeeded
    retries: Counter[str] = field(default_factory=Counter)  # "service reason" → retried attempts
    answers_lost: int = 0
    outages: list[Outage] = field(default_factory=list)
    _open: dict[str, Outage] = field(default_factory=dict)

    def failed(self, service: str, reason: str) -> None:
        self.retries[f"{service} {reason}"] += 1
        if service not in self._open:
            self._open[service] = Outage(service, time.monotonic())
            self.outages.append(self._open[service])

    def succeeded(self, service: str) -> None:
        outage = self._open.pop(service, None)
        if outage is not None:
            outage.ended = time.monotonic()

    def longest_outage(self, service: str) -> float:
        spans = [(o.ended or time.monotonic()) - o.started for o in self.outages if o.service == service]
        return round(max(spans, default=0.0), 2)

    def summary(self) -> dict[str, Any]:
        return {
            "writes": sum(self.writes.values()),
            "writes_by_service": dict(self.writes),
            "retried_attempts": dict(self.retries),
            "answers_lost": self.answers_lost,
            "longest_outage_seen_by_client_s": {
                service: self.longest_outage(service) for service in sorted({o.service for o in self.outages})
            },
        }


class Pacer:
    """At most `rate` new writes per second over all chains (None: as fast as they come)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class Client:
    """HTTP to the four services with the careful client's retries."""

    def __init__(self, urls: dict[str, str], stats: StreamStats, pacer: Pacer) -> None:
        self.http = {
            name: httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) for name, url in urls.items()
        }
        self.stats = stats
        self.pacer = pacer
        self.in_flight: Counter[str] = Counter()  # service → requests sent and not yet answered

    async def busy(self, service: str, timeout: float = 5.0) -> bool:
        """Wait until a write to `service` is on the wire (so a fault strikes one mid-request)."""
        deadline = time.monotonic() + timeout
        while not self.in_flight[service]:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.001)
        return True

    async def aclose(self) -> None:
        for client in self.http.values():
            await client.aclose()

    async def write(
        self,
        service: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        key: str,
        ok: tuple[int, ...] = (200, 201),
        headers: dict[str, str] = ADMIN,
        recover: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """POST with `Idempotency-Key: key` until it succeeds; the answer's JSON (or `recover()`'s)."""
        await self.pacer.wait()
        deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
        while True:
            self.in_flight[service] += 1
            try:
                answer = await self.http[service].post(path, json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError as exc:
                self._retry_or_give_up(service, type(exc).__name__, deadline, path)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            finally:
                self.in_flight[service] -= 1
            if answer.status_code in ok:
                self.stats.succeeded(service)
                self.stats.writes[service] += 1
                result: dict[str, Any] = answer.json()
                return result
            if answer.status_code >= 500:
                self._retry_or_give_up(service, str(answer.status_code), deadline, path)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            kind = _problem(answer).get("idempotency")
            if answer.status_code == 409 and kind in RETRIED_CONFLICTS:
                self._retry_or_give_up(service, f"409 {kind}", deadline, path)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            if answer.status_code == 409 and kind == "answer_lost" and recover is not None:
                self.stats.succeeded(service)
                self.stats.writes[service] += 1
                self.stats.answers_lost += 1
                return await recover()
            raise AssertionError(f"POST {path} (key {key}) → {answer.status_code}: {answer.text[:800]}")

    async def read(self, service: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET, retried while the service is unreachable or answers 5xx; any other answer is returned."""
        deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
        while True:
            try:
                answer = await self.http[service].get(path, params=params, headers=ADMIN)
            except httpx.TransportError as exc:
                self._retry_or_give_up(service, type(exc).__name__, deadline, path)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            if answer.status_code >= 500:
                self._retry_or_give_up(service, str(answer.status_code), deadline, path)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            self.stats.succeeded(service)
            return answer

    async def wait_for(
        self, service: str, path: str, check: Callable[[httpx.Response], bool], what: str, **params: Any
    ) -> httpx.Response:
        """Read until `check` holds (eventual consistency between services)."""
        deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
        while True:
            answer = await self.read(service, path, params or None)
            if check(answer):
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}: last {answer.status_code} {answer.text[:300]}")
            await asyncio.sleep(RETRY_PAUSE_SECONDS)

    def _retry_or_give_up(self, service: str, reason: str, deadline: float, path: str) -> None:
        self.stats.failed(service, reason)
        if time.monotonic() > deadline:
            raise AssertionError(f"{service} {path}: still failing ({reason}) after {GIVE_UP_AFTER_SECONDS}s")


def _problem(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- the district and its plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Who does what: the generator's district plus the helper planned for each household."""

    district: Any  # generator.District
    quotas: dict[str, int]
    helper_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # household key → (kind, helper key)
    hires_of: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    claims_of: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    exit_of: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        district = self.district
        slots = [("cadre", c.key) for c in district.cadres for _ in range(self.quotas[c.rank])]
        slots += [("branch", b.key) for b in district.branches for _ in range(self.quotas["branch"])]
        if len(slots) < len(district.households):
            raise ValueError(f"{len(slots)} helper slots for {len(district.households)} households")
        for household, slot in zip(district.households, slots, strict=False):
            self.helper_of[household.key] = slot
        for hire in district.hires:
            self.hires_of[hire.household_key].append(hire)
        for claim in district.claims:
            self.claims_of[claim.household_key].append(claim)
        self.exit_of = {exit.household_key: exit for exit in district.exits}

    def expected_counts(self) -> dict[str, int]:
        """What the stream must leave behind, from the plan alone (checked against the fault-free run)."""
        district = self.district
        return {
            "households": len(district.households),
            "persons": sum(len(h.members) for h in district.households),
            "pairings": len(district.households),
            "visits": len(district.visit_satisfaction),
            "placements": len(district.hires),
            "claims": len(district.claims),
            "exited": len(district.exits),
        }


@dataclass
class Ids:
    households: dict[str, str] = field(default_factory=dict)
    persons: dict[str, str] = field(default_factory=dict)
    cadres: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    postings: dict[str, str] = field(default_factory=dict)  # street → posting id


async def set_up(client: Client, plan: Plan, ids: Ids, policy_years: dict[int, dict[str, Any]]) -> None:
    """Everything the stream builds on; sent before any fault, with the same retries."""
    district = plan.district
    await client.write(
        "registry",
        "/registry/v1/org-units",
        {"code": district.district_code, "name": f"区{district.district_code}", "kind": "district"},
        key=f"ou-{district.district_code}",
        ok=(201,),
    )
    for street in district.streets:
        await client.write(
            "registry",
            "/registry/v1/org-units",
            {"code": street, "name": f"街道{street}", "kind": "street", "parent_code": district.district_code},
            key=f"ou-{street}",
            ok=(201,),
        )
        for community in district.communities[street]:
            await client.write(
                "registry",
                "/registry/v1/org-units",
                {"code": community, "name": f"社区{community}", "kind": "community", "parent_code": street},
                key=f"ou-{community}",
                ok=(201,),
            )
    for department in district.departments:
        body = {
            "code": department.code,
            "name": department.name,
            "kind": "department",
            "parent_code": district.district_code,
            "linked_streets": department.linked_streets,
        }
        await client.write("registry", "/registry/v1/org-units", body, key=f"ou-{department.code}", ok=(201,))
    for cadre in district.cadres:
        body = {
            "name": cadre.name,
            "rank": cadre.rank,
            "department_code": cadre.department_code,
            "home_street_code": cadre.home_street_code,
        }
        created = await client.write("registry", "/registry/v1/cadres", body, key=f"cadre-{cadre.key}", ok=(201,))
        ids.cadres[cadre.key] = created["id"]
    for branch in district.branches:
        body = {"name": branch.name, "department_code": branch.department_code, "community_code": branch.community_code}
        created = await client.write(
            "registry", "/registry/v1/party-branches", body, key=f"branch-{branch.key}", ok=(201,)
        )
        ids.branches[branch.key] = created["id"]
    for year, document in sorted(policy_years.items()):
        answer = await client.http["medical"].put(f"/medical/v1/policy-years/{year}", json=document, headers=ADMIN)
        assert answer.status_code in (200, 201), answer.text
    for street in district.streets:
        employer = await client.write(
            "matching",
            "/matching/v1/employers",
            {"name": f"就业基地{street}", "street_code": street},
            key=f"employer-{street}",
            ok=(201,),
        )
        posting = await client.write(
            "matching",
            "/matching/v1/postings",
            {
                "employer_id": employer["id"],
                "occupation": "保洁员",
                "monthly_wage": "3000.00",
                "weekly_hours": 40,
                "street_code": street,
                "physical_demand": "light",
                "accessible": True,
                "openings": 500,
                "valid_from": (district.today - dt.timedelta(days=1)).isoformat(),
            },
            key=f"posting-{street}",
            ok=(201,),
        )
        ids.postings[street] = posting["id"]


@dataclass
class Progress:
    total: int
    done: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def step(self) -> None:
        self.done += 1
        self.changed.set()

    async def reach(self, share: float) -> None:
        """Wait until `share` of the chains' steps are done."""
        while self.done < share * self.total:
            self.changed.clear()
            await self.changed.wait()


def count_steps(plan: Plan) -> int:
    district = plan.district
    return (
        2 * len(district.households)
        + len(district.visit_satisfaction)
        + 3 * len(district.hires)
        + len(district.claims)
        + len(district.exits)
    )


async def run_chains(client: Client, plan: Plan, ids: Ids, progress: Progress, concurrency: int) -> None:
    """Every household's chain, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(household: Any) -> None:
        async with gate:
            await household_chain(client, plan, ids, household, progress)

    await asyncio.gather(*(guarded(household) for household in plan.district.households))


async def household_chain(client: Client, plan: Plan, ids: Ids, household: Any, progress: Progress) -> None:
    district = plan.district
    key = household.key

    async def find_members() -> dict[str, Any]:
        """The household was enrolled but its answer was lost: find its members by ID number."""
        person_ids = []
        household_id = None
        for member in household.members:
            found = await client.http["registry"].post(
                "/registry/v1/persons:lookup", json={"id_number": member.id_number}, headers=ADMIN
            )
            assert found.status_code == 200, found.text
            (match,) = found.json()["items"]
            person_ids.append(match["person_id"])
            household_id = match["household_id"]
        return {"id": household_id, "person_ids": person_ids}

    created = await client.write(
        "registry",
        "/registry/v1/households",
        household.body(district.cohort, district.enrolled_on),
        key=f"enrol-{key}",
        ok=(201,),
        recover=find_members,
    )
    household_id = created["id"]
    ids.households[key] = household_id
    for member, person_id in zip(household.members, created["person_ids"], strict=True):
        ids.persons[member.key] = person_id
    progress.step()

    async def nothing() -> dict[str, Any]:
        return {}

    kind, helper_key = plan.helper_of[key]
    helper_id = ids.cadres[helper_key] if kind == "cadre" else ids.branches[helper_key]
    await client.write(
        "registry",
        "/registry/v1/pairings",
        {"household_id": household_id, "helper_kind": kind, "helper_id": helper_id},
        key=f"pair-{key}",
        ok=(201,),
        recover=nothing,
    )
    progress.step()

    if key in district.visit_satisfaction:
        body: dict[str, Any] = {"visited_on": district.today.isoformat(), "needs": []}
        if district.visit_satisfaction[key] is not None:
            body["satisfaction"] = district.visit_satisfaction[key]
        await client.write(
            "registry", f"/registry/v1/households/{household_id}/visits", body, key=f"visit-{key}", recover=nothing
        )
        progress.step()

    wages = Decimal(0)
    for hire in plan.hires_of.get(key, []):
        person_id = ids.persons[hire.member_key]
        await client.wait_for(
            "matching", f"/matching/v1/seekers/{person_id}", lambda r: r.status_code == 200, "the seeker in matching"
        )

        async def find_application(person_id: str = person_id) -> dict[str, Any]:
            page = (await client.read("matching", "/matching/v1/applications", {"person_id": person_id})).json()
            (application,) = page["items"]
            return dict(application)

        application = await client.write(
            "matching",
            "/matching/v1/applications",
            {"person_id": person_id, "posting_id": ids.postings[household.street_code]},
            key=f"apply-{hire.member_key}",
            ok=(201,),
            recover=find_application,
        )
        progress.step()
        for step in ("interviewed", "hired"):
            body = {"to": step, "on": district.today.isoformat()}
            if step == "hired":
                body["monthly_wage"] = f"{hire.monthly_wage:.2f}"
            await client.write(
                "matching",
                f"/matching/v1/applications/{application['id']}:transition",
                body,
                key=f"{step}-{hire.member_key}",
                ok=(200,),
                recover=nothing,
            )
            progress.step()
        wages += hire.monthly_wage
    if wages:
        # The exit below must follow the hire's effect on the household, as an operator's would.
        await client.wait_for(
            "registry",
            f"/registry/v1/households/{household_id}",
            lambda r: r.status_code == 200 and Decimal(r.json()["placement_wages"]) == wages,
            "the wage in the registry",
        )

    for claim in plan.claims_of.get(key, []):
        person_id = ids.persons[claim.member_key]
        await client.wait_for(
            "medical",
            f"/medical/v1/persons/{person_id}/accumulators",
            lambda r: r.status_code == 200,
            "the claimant in medical",
            year=claim.discharged_on.year,
        )
        await client.write(
            "medical",
            "/medical/v1/claims",
            claim.body(person_id),
            key=f"claim-{claim.settlement_no}",
            ok=(201,),
            headers=MEDICAL_OPERATOR,
            recover=nothing,
        )
        progress.step()

    exit = plan.exit_of.get(key)
    if exit is not None:
        body = {"reason": exit.reason, "exited_on": district.today.isoformat()}
        if exit.employed_member_keys:
            body["employed_person_ids"] = [ids.persons[k] for k in exit.employed_member_keys]
        await client.write(
            "registry",
            f"/registry/v1/households/{household_id}:exit",
            body,
            key=f"exit-{key}",
            ok=(200,),
            recover=nothing,
        )
        progress.step()
