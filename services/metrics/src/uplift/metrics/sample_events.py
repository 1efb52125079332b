"""Contract-model events as the registry, matching and medical services emit them, and a publisher that puts
them straight onto the source streams: for the service tests and the benchmark.

Every builder returns the payload model of `uplift.common.contracts`; a `Household` keeps its own `seq` and
snapshot so that its events follow each other as the registry would send them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from nats.js import JetStreamContext

from uplift.common import contracts as c
from uplift.common.envelope import Envelope
from uplift.common.testkit import auth, eventually
from uplift.metrics.projections import SOURCE_STREAMS

STREAM_OF_SOURCE = {"registry": "REGISTRY", "matching": "MATCHING", "medical": "MEDICAL"}


class Publisher:
    """Publishes payloads as their producers would: one envelope each, `Nats-Msg-Id` = the event id."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    @staticmethod
    def envelope(payload: c.EventPayload, *, at: dt.datetime | None = None) -> Envelope:
        source = payload.event_type.split(".", 1)[0]
        return Envelope(
            type=payload.event_type,
            source=f"uplift/{source}",
            subject=payload.aggregate_id,
            time=at or dt.datetime.now(dt.UTC),
            data=payload.model_dump(mode="json"),
        )

    async def publish(self, payloads: Sequence[c.EventPayload | Envelope], *, window: int = 2000) -> list[Envelope]:
        """Publish in order, many acknowledgements in flight at once (`publish_async`)."""
        envelopes = [p if isinstance(p, Envelope) else self.envelope(p) for p in payloads]
        pending: list[asyncio.Future[Any]] = []
        for envelope in envelopes:
            pending.append(
                await self.js.publish_async(
                    envelope.nats_subject,
                    envelope.to_json_bytes(),
                    headers={"Nats-Msg-Id": str(envelope.id)},
                )
            )
            if len(pending) >= window:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return envelopes


@dataclass
class Org:
    """Org codes and a cohort label of one test, unlikely to collide with any other test's."""

    district: str
    street: str
    communities: list[str]
    cohort: str
    department: str

    @classmethod
    def fresh(cls, communities: int = 2) -> Org:
        district = "9" + "".join(random.choices("0123456789", k=5))
        street = district + "".join(random.choices("0123456789", k=3))
        return cls(
            district=district,
            street=street,
            communities=[f"{street}{n:03d}" for n in range(1, communities + 1)],
            cohort="t-" + uuid.uuid4().hex[:12],
            department="D" + uuid.uuid4().hex[:8].upper(),
        )


@dataclass
class Household:
    """A household as the registry would describe it, and the events it has gone through."""

    household_id: uuid.UUID
    community: str
    cohort: str
    enrolled_on: dt.date
    seq: int = 0
    status: str = "enrolled"
    exit: c.ExitInfo | None = None
    relapsed: bool = False
    pairing_seq: int = 0
    helper: c.Helper | None = None
    moves: list[tuple[str, dt.date]] = field(default_factory=list)

    def snapshot(self) -> c.HouseholdSnapshot:
        return c.HouseholdSnapshot(
            household_id=self.household_id,
            seq=self.seq,
            status=self.status,
            category="dibao",
            street_code=self.community[:9],
            community_code=self.community,
            cohort=self.cohort,
            enrolled_on=self.enrolled_on,
            size=3,
            monthly_income=Decimal("500.00"),
            dibao_monthly=Decimal("600.00"),
            causes=["illness"],
            relapsed=self.relapsed,
            exit=self.exit,
            helper=self.helper,
        )

    def _next(self) -> c.HouseholdSnapshot:
        self.seq += 1
        return self.snapshot()

    def enrolled(self) -> c.HouseholdEnrolled:
        return c.HouseholdEnrolled(household=self._next())

    def exited(self, on: dt.date, reason: str = "employment") -> c.HouseholdExited:
        lifted = reason in {"employment", "substitute_support", "policy_support", "income_above_line"}
        until = on.replace(year=on.year + 3) if lifted else None
        self.status = "exited"
        self.exit = c.ExitInfo(reason=reason, exited_on=on, monitoring_until=until)
        return c.HouseholdExited(
            household=self._next(),
            reason=reason,
            exited_on=on,
            monitoring_until=until,
        )

    def exit_undone(self, on: dt.date) -> c.HouseholdExitUndone:
        self.status, self.exit = "enrolled", None
        return c.HouseholdExitUndone(household=self._next(), undone_on=on)

    def relapsed_on(self, on: dt.date) -> c.HouseholdRelapsed:
        self.status, self.exit, self.relapsed = "enrolled", None, True
        return c.HouseholdRelapsed(household=self._next(), cause="illness", relapsed_on=on)

    def transition(self, starts_on: dt.date) -> c.HouseholdTransitionStarted:
        self.status = "transition"
        ends_on = starts_on + dt.timedelta(days=182)
        return c.HouseholdTransitionStarted(household=self._next(), starts_on=starts_on, ends_on=ends_on)

    def moved(self, community: str, changes: dict[str, Any] | None = None) -> c.HouseholdUpdated:
        self.community = community
        return c.HouseholdUpdated(household=self._next(), changes=changes or {"community_code": community})

    def paired(self, helper: c.Helper, on: dt.date) -> c.PairingAssigned:
        self.pairing_seq += 1
        self.helper = helper
        return c.PairingAssigned(
            seq=self.pairing_seq, household_id=self.household_id, helper=helper, street_code=self.community[:9], on=on
        )

    def released(self, on: dt.date) -> c.PairingReleased:
        assert self.helper is not None
        self.pairing_seq += 1
        helper, self.helper = self.helper, None
        return c.PairingReleased(
            seq=self.pairing_seq, household_id=self.household_id, helper=helper, street_code=self.community[:9], on=on
        )


def new_household(org: Org, *, community: int = 0, enrolled_on: dt.date = dt.date(2026, 1, 10)) -> Household:
    return Household(uuid.uuid4(), org.communities[community], org.cohort, enrolled_on)


def cadre(department: str | None) -> c.Helper:
    return c.Helper(kind="cadre", id=uuid.uuid4(), department_code=department)


def visit(household: Household, helper: c.Helper, on: dt.date, satisfaction: int | None) -> c.VisitRecorded:
    return c.VisitRecorded(
        seq=1,
        visit_id=uuid.uuid4(),
        household_id=household.household_id,
        helper=helper,
        visited_on=on,
        satisfaction=satisfaction,
    )


def hired(household: Household, started_on: dt.date, person_id: uuid.UUID | None = None) -> c.PlacementHired:
    return c.PlacementHired(
        seq=1,
        placement_id=uuid.uuid4(),
        person_id=person_id or uuid.uuid4(),
        household_id=household.household_id,
        posting_id=uuid.uuid4(),
        monthly_wage=Decimal("3000.00"),
        public_welfare=False,
        remote=False,
        started_on=started_on,
    )


def retained(placement: c.PlacementHired, months: int, on: dt.date) -> c.PlacementRetained:
    return c.PlacementRetained(
        seq=2 if months == 3 else 3,
        placement_id=placement.placement_id,
        person_id=placement.person_id,
        household_id=placement.household_id,
        months=months,
        on=on,
    )


def settled(
    household: Household, discharged_on: dt.date, *, cap_met: bool | None, supplementary: str = "0.00"
) -> c.ClaimSettled:
    supplementary_paid = Decimal(supplementary)
    return c.ClaimSettled(
        seq=1,
        claim_id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        household_id=household.household_id,
        category="dibao",
        street_code=household.community[:9],
        community_code=household.community,
        policy_year=discharged_on.year,
        discharged_on=discharged_on,
        total=Decimal("10000.00"),
        in_policy=Decimal("9000.00"),
        lines=c.ClaimLines(
            basic=Decimal("4920.00"),
            critical_illness=Decimal("0.00"),
            assistance=Decimal("2856.00"),
            charity=Decimal("500.00"),
            supplementary=supplementary_paid,
        ),
        out_of_pocket=Decimal("1724.00") - supplementary_paid,
        oop_ratio="0.1724",
        cap_met=cap_met,
    )


def reversed_claim(claim: c.ClaimSettled, on: dt.date) -> c.ClaimReversed:
    return c.ClaimReversed(**{**claim.model_dump(), "seq": 2}, reason="entered twice", reversed_on=on)


async def indicator(
    client: httpx.AsyncClient, name: str, scope: str, period: str, cohort: str | None = None, role: str = "analyst"
) -> httpx.Response:
    params = {"scope": scope, "period": period}
    if cohort is not None:
        params["cohort"] = cohort
    return await client.get(f"/metrics/v1/indicators/{name}", params=params, headers=auth(role))


async def wait_for_indicator(
    client: httpx.AsyncClient,
    name: str,
    scope: str,
    period: str,
    *,
    denominator: int,
    cohort: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """The indicator once its denominator reached `denominator` (the consumers caught up)."""
    latest: dict[str, Any] = {}

    async def caught_up() -> bool:
        response = await indicator(client, name, scope, period, cohort)
        assert response.status_code == 200, response.text
        latest.update(response.json())
        return bool(latest["denominator"] == denominator)

    await eventually(caught_up, timeout=timeout, interval=0.1, what=f"{name} over {denominator} in {scope}")
    return latest


async def consumers_caught_up(js: JetStreamContext) -> bool:
    """Nothing pending or unacknowledged for metrics' durable consumers of the source streams."""
    for stream in SOURCE_STREAMS:
        info = await js.consumer_info(stream, f"metrics-{stream.lower()}")
        if info.num_pending or info.num_ack_pending:
            return False
    return True
