"""Indicators through the API, over projections built by the live consumers from events on the streams."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal

import pytest

from uplift.common import contracts as c
from uplift.common.testkit import RunningService, auth, eventually
from uplift.metrics.domain.facts import (
    Claim,
    CommunityChange,
    ExitReason,
    Facts,
    FundBudget,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    Measure,
    Placement,
    StatusChange,
    Visit,
    VisitIntervalVersion,
)
from uplift.metrics.domain.indicators import INDICATORS, compute_indicator
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.domain.scopes import parse_scope
from uplift.metrics.sample_events import (
    Household,
    Org,
    Publisher,
    cadre,
    hired,
    indicator,
    new_household,
    retained,
    reversed_claim,
    settled,
    visit,
    wait_for_indicator,
)

pytestmark = pytest.mark.integration


async def test_reference_cohort_of_3407_with_690_exited_gives_exit_rate_0_2025(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh(communities=4)
    households = [new_household(org, community=n % 4) for n in range(3407)]
    events: list[c.EventPayload] = [h.enrolled() for h in households]
    events += [h.exited(dt.date(2026, 9, 30), "employment") for h in households[:690]]
    started = time.perf_counter()
    await publisher.publish(events)

    body = await wait_for_indicator(
        metrics.client, "exit_rate", org.street, "2026", denominator=3407, cohort=org.cohort
    )
    if body["numerator"] != 690:  # the exits may land a moment after the last enrolment
        await eventually(lambda: _numerator_is(metrics, org, 690), timeout=20, interval=0.1, what="690 exits projected")
        body = (await indicator(metrics.client, "exit_rate", org.street, "2026", org.cohort)).json()
    elapsed = time.perf_counter() - started

    assert body == {
        "name": "exit_rate",
        "scope": org.street,
        "period": "2026",
        "cohort": org.cohort,
        "value": "0.2025",
        "numerator": 690,
        "denominator": 3407,
        "reason": None,
    }
    assert elapsed < 30, f"4,097 events took {elapsed:.1f}s to reach the indicator"


async def _numerator_is(metrics: RunningService, org: Org, expected: int) -> bool:
    response = await indicator(metrics.client, "exit_rate", org.street, "2026", org.cohort)
    return bool(response.json()["numerator"] == expected)


async def test_an_empty_denominator_gives_a_null_value_with_a_reason(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh()
    household = new_household(org, enrolled_on=dt.date(2026, 5, 1))
    await publisher.publish([household.enrolled()])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026-Q2", denominator=1)

    # Enrolled in May: nobody was in the programme at the start of Q2.
    response = await indicator(metrics.client, "employment_gain_rate", org.street, "2026-Q2")
    assert response.status_code == 200
    body = response.json()
    assert body["value"] is None
    assert body["numerator"] == 0 and body["denominator"] == 0
    assert body["reason"] == "no households enrolled or in transition at the end of 2026-03-31 in this scope"


async def test_a_household_exiting_and_relapsing_in_one_period_counts_neither_as_exited_nor_as_relapsed(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh()
    both_in_q2, relapsed_in_q2, stays_exited = (new_household(org) for _ in range(3))
    await publisher.publish(
        [
            both_in_q2.enrolled(),
            relapsed_in_q2.enrolled(),
            stays_exited.enrolled(),
            relapsed_in_q2.exited(dt.date(2026, 2, 15)),
            stays_exited.exited(dt.date(2026, 3, 1), "policy_support"),
            both_in_q2.exited(dt.date(2026, 4, 10)),
            both_in_q2.relapsed_on(dt.date(2026, 5, 20)),
            relapsed_in_q2.relapsed_on(dt.date(2026, 6, 30)),
        ]
    )
    await wait_for_indicator(metrics.client, "relapse_rate", org.street, "2026-Q2", denominator=2)
    await eventually(
        lambda: _value_is(metrics, "relapse_rate", org.street, "2026-Q2", "0.5000"), what="both relapses projected"
    )

    relapse = (await indicator(metrics.client, "relapse_rate", org.street, "2026-Q2")).json()
    exits = (await indicator(metrics.client, "exit_rate", org.street, "2026-Q2")).json()
    # Only the household exited before Q2 and still monitored at its start is in the relapse denominator.
    assert (relapse["numerator"], relapse["denominator"], relapse["value"]) == (1, 2, "0.5000")
    # At the end of Q2 only the policy-support exit is still exited.
    assert (exits["numerator"], exits["denominator"], exits["value"]) == (1, 3, "0.3333")


async def _value_is(metrics: RunningService, name: str, scope: str, period: str, value: str) -> bool:
    return bool((await indicator(metrics.client, name, scope, period)).json()["value"] == value)


async def test_an_undone_exit_leaves_the_status_history(metrics: RunningService, publisher: Publisher) -> None:
    org = Org.fresh()
    mistaken, kept = new_household(org), new_household(org)
    await publisher.publish(
        [
            mistaken.enrolled(),
            kept.enrolled(),
            mistaken.exited(dt.date(2026, 3, 3)),
            kept.exited(dt.date(2026, 3, 3)),
            mistaken.exit_undone(dt.date(2026, 3, 20)),
        ]
    )
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026-03", denominator=2)
    await eventually(
        lambda: _value_is(metrics, "exit_rate", org.street, "2026-03", "0.5000"), what="the undo projected"
    )
    # The exit was a mistake: not even the days before the undo count it.
    march_10 = (await indicator(metrics.client, "exit_rate", org.street, "2026-03-01..2026-03-10")).json()
    assert (march_10["numerator"], march_10["denominator"]) == (1, 2)


async def test_bad_requests_are_422_and_an_unknown_indicator_404(metrics: RunningService) -> None:
    client = metrics.client
    bad_period = await indicator(client, "exit_rate", "420102", "2026-13")
    assert bad_period.status_code == 422
    assert bad_period.json()["errors"][0]["field"] == "period"
    bad_scope = await indicator(client, "exit_rate", "4201", "2026")
    assert bad_scope.status_code == 422
    assert bad_scope.json()["errors"][0]["field"] == "scope"
    cohort_on_visits = await indicator(client, "satisfaction_rate", "420102", "2026", cohort="2026-1")
    assert cohort_on_visits.status_code == 422
    assert cohort_on_visits.json()["errors"][0]["field"] == "cohort"
    fund_on_a_street = await indicator(client, "supplementary_fund_used", "420102001", "2026")
    assert fund_on_a_street.status_code == 422
    unknown = await indicator(client, "happiness", "420102", "2026")
    assert unknown.status_code == 404


async def test_the_service_figures_equal_the_reference_functions_on_the_same_data(
    metrics: RunningService, publisher: Publisher
) -> None:
    """A street with every kind of fact; each indicator through the API equals the domain's reference function
    over facts written down independently from the events published."""
    org = Org.fresh(communities=3)
    department = org.department
    helper, branch = cadre(department), c.Helper(kind="branch", id=cadre(None).id, department_code=None)
    h = [new_household(org, community=n % 3, enrolled_on=dt.date(2025, 11 + n % 2, 5 + n)) for n in range(8)]
    late = new_household(org, community=1, enrolled_on=dt.date(2026, 5, 2))
    mover = new_household(org, community=0)
    mover_moved_at = dt.datetime(2026, 4, 30, 17, 0, tzinfo=dt.UTC)  # 2026-05-01 01:00 in Asia/Shanghai
    p1, p2, p3 = hired(h[0], dt.date(2026, 4, 3)), hired(h[1], dt.date(2025, 11, 20)), hired(h[1], dt.date(2026, 5, 9))
    claims = [
        settled(h[0], dt.date(2026, 4, 10), cap_met=True, supplementary="324.00"),
        settled(h[1], dt.date(2026, 5, 10), cap_met=False),
        settled(h[2], dt.date(2026, 6, 1), cap_met=None),
        settled(h[3], dt.date(2026, 6, 2), cap_met=True, supplementary="100.00"),
    ]
    q2_visits = [
        visit(h[0], helper, dt.date(2026, 6, 20), 5),
        visit(h[1], helper, dt.date(2026, 4, 2), 3),
        visit(h[2], branch, dt.date(2026, 6, 15), 4),
        visit(h[3], helper, dt.date(2026, 5, 5), None),
    ]
    measures = [
        c.MeasurePlanned(
            seq=1,
            measure_id=uuid.uuid4(),
            household_id=h[n].household_id,
            policy_code="EMP-01",
            helper=helper,
            due_on=dt.date(2026, 5, 1 + n),
        )
        for n in range(3)
    ]
    completed = c.MeasureCompleted(**{**measures[0].model_dump(), "seq": 2, "completed_on": dt.date(2026, 4, 28)})
    events: list[c.EventPayload | object] = [x.enrolled() for x in [*h, late, mover]]
    events += [
        c.ParametersSet(
            seq=1,
            effective_from=dt.date(2026, 1, 1),
            dibao_line="900.00",
            transition_months=6,
            monitoring_years=3,
            visit_interval_days=20,
            retirement_age=c.RetirementAge(male=60, female=55),
        ),
        h[0].paired(helper, dt.date(2026, 1, 15)),
        h[1].paired(helper, dt.date(2026, 1, 15)),
        h[2].paired(branch, dt.date(2026, 2, 1)),
        h[3].paired(helper, dt.date(2026, 2, 1)),
        h[3].released(dt.date(2026, 6, 10)),
        h[4].paired(helper, dt.date(2026, 3, 1)),
        h[4].exited(dt.date(2026, 3, 31), "employment"),
        h[4].released(dt.date(2026, 3, 31)),
        h[5].exited(dt.date(2026, 2, 1), "income_above_line"),
        h[6].transition(dt.date(2026, 3, 15)),
        h[7].exited(dt.date(2026, 6, 5), "moved_away"),
        h[5].relapsed_on(dt.date(2026, 6, 1)),
        p1,
        p2,
        p3,
        retained(p2, 3, dt.date(2026, 2, 20)),
        retained(p2, 6, dt.date(2026, 5, 20)),
        *q2_visits,
        *measures,
        completed,
        c.PolicyYearSet(seq=1, policy_year=2026, supplementary_budget="3000000.00"),
        *claims,
        reversed_claim(claims[3], dt.date(2026, 6, 20)),
    ]
    envelopes = [publisher.envelope(e) for e in events]  # type: ignore[arg-type]
    envelopes.append(publisher.envelope(mover.moved(org.communities[2]), at=mover_moved_at))
    await publisher.publish(envelopes)

    street, q2 = parse_scope(org.street), parse_period("2026-Q2")
    facts = Facts(
        households=[
            _household(h[0], [], [_assigned(helper, "2026-01-15")]),
            _household(h[1], [], [_assigned(helper, "2026-01-15")]),
            _household(h[2], [], [_assigned(branch, "2026-02-01")]),
            _household(h[3], [], [_assigned(helper, "2026-02-01", "2026-06-10")]),
            _household(h[4], [_exit("2026-03-31", "employment")], [_assigned(helper, "2026-03-01", "2026-03-31")]),
            _household(
                h[5],
                [_exit("2026-02-01", "income_above_line"), StatusChange(_d("2026-06-01"), HouseholdStatus.ENROLLED)],
                [],
                relapses=[_d("2026-06-01")],
            ),
            _household(h[6], [StatusChange(_d("2026-03-15"), HouseholdStatus.TRANSITION)], []),
            _household(h[7], [_exit("2026-06-05", "moved_away")], []),
            _household(late, [], []),
            _household(
                mover,
                [],
                [],
                moves=[
                    CommunityChange(mover.enrolled_on, org.communities[0]),
                    CommunityChange(_d("2026-05-01"), org.communities[2]),
                ],
            ),
        ],
        placements=[
            Placement(str(p.placement_id), str(p.person_id), str(p.household_id), p.started_on) for p in (p1, p3)
        ]
        + [Placement(str(p2.placement_id), str(p2.person_id), str(p2.household_id), p2.started_on, _d("2026-05-20"))],
        visits=[
            Visit(str(v.visit_id), str(v.household_id), v.helper.department_code, v.visited_on, v.satisfaction)
            for v in q2_visits
        ],
        measures=[
            Measure(str(m.measure_id), str(m.household_id), department, m.due_on, _d("2026-04-28") if n == 0 else None)
            for n, m in enumerate(measures)
        ],
        claims=[
            Claim(
                str(cl.claim_id),
                str(cl.household_id),
                cl.street_code,
                cl.community_code,
                cl.discharged_on,
                cl.policy_year,
                cl.cap_met,
                cl.lines.supplementary,
                reversed=n == 3,
            )
            for n, cl in enumerate(claims)
        ],
        fund_budgets=[FundBudget(2026, Decimal("3000000.00"))],
        visit_intervals=[VisitIntervalVersion(_d("2026-01-01"), 20)],
    )
    scopes = [
        street,
        parse_scope(org.communities[0]),
        parse_scope(org.communities[2]),
        parse_scope(f"department:{department}"),
    ]
    periods = [q2, parse_period("2026-04"), parse_period("2026-06"), parse_period("2026-05-01..2026-06-30")]

    # Wait for the last events of each stream to land.
    await wait_for_indicator(metrics.client, "exit_rate", org.communities[2], "2026-Q2", denominator=3)
    await eventually(lambda: _value_is(metrics, "medical_cap_rate", org.street, "2026-Q2", "0.5000"), what="claims")
    await eventually(lambda: _value_is(metrics, "retention_6m", org.street, "2026-Q2", "1.0000"), what="placements")
    await eventually(lambda: _value_is(metrics, "satisfaction_rate", org.street, "2026-Q2", "0.6667"), what="visits")

    compared = 0
    for scope in scopes:
        for period in periods:
            for name in INDICATORS:
                if name == "supplementary_fund_used":
                    continue  # district scope only: checked below over the whole projection
                expected_value = compute_indicator(name, facts, scope, period)
                response = await indicator(metrics.client, name, str(scope), period.label)
                assert response.status_code == 200, response.text
                body = response.json()
                expected_body = {
                    "value": None
                    if expected_value.value is None
                    else str(expected_value.numerator)
                    if expected_value.denominator is None  # a count is its numerator
                    else str(expected_value.value.quantize(Decimal("0.0001"))),
                    "numerator": expected_value.numerator,
                    "denominator": expected_value.denominator,
                    "reason": expected_value.reason,
                }
                actual = {key: body[key] for key in expected_body}
                assert actual == expected_body, f"{name} {scope} {period.label}"
                compared += 1
    assert compared == 4 * 4 * 9
    # Hand-checked anchors, so that a shared mistake of loader and reference cannot pass unseen.
    gain = (await indicator(metrics.client, "employment_gain_rate", org.street, "2026-Q2")).json()
    assert (gain["numerator"], gain["denominator"]) == (2, 7)  # h0 and h1 hired in Q2; h4, h5 exited, late not yet
    employed = (await indicator(metrics.client, "persons_employed", org.street, "2026-Q2")).json()
    assert employed["value"] == str(employed["numerator"]) and employed["denominator"] is None
    coverage = (await indicator(metrics.client, "pairing_coverage", org.street, "2026-Q2")).json()
    assert (coverage["numerator"], coverage["denominator"]) == (3, 8)
    compliance = (await indicator(metrics.client, "visit_compliance", org.street, "2026-Q2")).json()
    assert (compliance["numerator"], compliance["denominator"]) == (2, 3)  # 20-day window: h0 and h2
    moved = (await indicator(metrics.client, "exit_rate", org.communities[0], "2026-04")).json()
    assert moved["denominator"] == 4  # h0, h3, h6 and the mover, who moved away on 2026-05-01 (Shanghai)


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _exit(on: str, reason: str) -> StatusChange:
    day = _d(on)
    lifted = reason in {"employment", "substitute_support", "policy_support", "income_above_line"}
    return StatusChange(
        day, HouseholdStatus.EXITED, ExitReason(reason), day.replace(year=day.year + 3) if lifted else None
    )


def _assigned(helper: c.Helper, on: str, released: str | None = None) -> HelperAssignment:
    return HelperAssignment(
        HelperKind(helper.kind), str(helper.id), helper.department_code, _d(on), _d(released) if released else None
    )


def _household(
    household: Household,
    history: list[StatusChange],
    helpers: list[HelperAssignment],
    *,
    relapses: list[dt.date] | None = None,
    moves: list[CommunityChange] | None = None,
) -> HouseholdFacts:
    first_community = moves[0].community_code if moves else household.community
    return HouseholdFacts(
        household_id=str(household.household_id),
        cohort=household.cohort,
        street_code=household.community[:9],
        community_code=household.community,
        enrolled_on=household.enrolled_on,
        status_history=history,
        relapses=relapses or [],
        helper_assignments=helpers,
        community_history=moves or [CommunityChange(household.enrolled_on, first_community)],
    )


async def test_dashboard_shows_every_indicator_beside_the_previous_period(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh()
    early, later = (
        new_household(org, enrolled_on=dt.date(2026, 1, 5)),
        new_household(org, enrolled_on=dt.date(2026, 4, 5)),
    )
    await publisher.publish([early.enrolled(), later.enrolled(), early.exited(dt.date(2026, 2, 1))])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026-Q2", denominator=2)
    await eventually(lambda: _value_is(metrics, "exit_rate", org.street, "2026-Q2", "0.5000"), what="the exit")

    response = await metrics.client.get(
        "/metrics/v1/dashboard", params={"scope": org.street, "period": "2026-Q2"}, headers=auth("analyst")
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["period"], body["previous_period"]) == ("2026-Q2", "2026-Q1")
    names = [item["name"] for item in body["indicators"]]
    assert names == [name for name in INDICATORS if name != "supplementary_fund_used"]
    exit_rate = body["indicators"][0]
    assert (exit_rate["current"]["value"], exit_rate["previous"]["value"]) == ("0.5000", "1.0000")

    series = await metrics.client.get(
        "/metrics/v1/indicators/exit_rate/series",
        params={"scope": org.street, "from": "2026-01", "to": "2026-04"},
        headers=auth("analyst"),
    )
    assert series.status_code == 200
    points = [(p["period"], p["value"]) for p in series.json()["points"]]
    assert points == [("2026-01", "0.0000"), ("2026-02", "1.0000"), ("2026-03", "1.0000"), ("2026-04", "0.5000")]


async def test_an_event_is_visible_in_the_indicators_within_a_second(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh()
    household = new_household(org)
    await publisher.publish([household.enrolled()])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026", denominator=1)

    started = time.perf_counter()
    await publisher.publish([household.exited(dt.date(2026, 6, 1))])
    await eventually(
        lambda: _value_is(metrics, "exit_rate", org.street, "2026", "1.0000"),
        timeout=5,
        interval=0.02,
        what="the exit visible",
    )
    assert time.perf_counter() - started < 1.0
