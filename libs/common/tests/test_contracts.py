"""Event payload contracts: one model per catalogue type, exact JSON shapes, tolerance, no personal data."""

from __future__ import annotations

import copy
import datetime as dt
import json
import typing
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from uplift.common.contracts import (
    EVENT_TYPES,
    ClaimSettled,
    EventPayload,
    HouseholdExited,
    HouseholdSnapshot,
    HouseholdUpdated,
    VisitRecorded,
    aggregate_of,
    parse_payload,
    payload_model,
    register_event_type,
    stream_for,
    subject_for,
    version_of,
)

HOUSEHOLD = "0192f3a0-0000-7000-8000-000000000001"
PERSON = "0192f3a0-0000-7000-8000-000000000002"
PERSON_2 = "0192f3a0-0000-7000-8000-000000000003"
CADRE = "0192f3a0-0000-7000-8000-000000000004"
VISIT = "0192f3a0-0000-7000-8000-000000000005"
MEASURE = "0192f3a0-0000-7000-8000-000000000006"
ALERT = "0192f3a0-0000-7000-8000-000000000007"
PLACEMENT = "0192f3a0-0000-7000-8000-000000000008"
POSTING = "0192f3a0-0000-7000-8000-000000000009"
TRAINING = "0192f3a0-0000-7000-8000-00000000000a"
CLAIM = "0192f3a0-0000-7000-8000-00000000000b"
BRANCH = "0192f3a0-0000-7000-8000-00000000000c"

CATALOGUE = {
    "registry.household.enrolled.v1",
    "registry.household.updated.v1",
    "registry.household.transition_started.v1",
    "registry.household.transition_cancelled.v1",
    "registry.household.exited.v1",
    "registry.household.exit_undone.v1",
    "registry.household.relapsed.v1",
    "registry.person.added.v1",
    "registry.person.updated.v1",
    "registry.person.removed.v1",
    "registry.pairing.assigned.v1",
    "registry.pairing.released.v1",
    "registry.visit.recorded.v1",
    "registry.measure.planned.v1",
    "registry.measure.completed.v1",
    "registry.alert.raised.v1",
    "registry.alert.resolved.v1",
    "registry.reward.granted.v1",
    "registry.parameters.set.v1",
    "matching.placement.hired.v1",
    "matching.placement.retained.v1",
    "matching.placement.ended.v1",
    "matching.training.completed.v1",
    "medical.policy_year.set.v1",
    "medical.claim.settled.v1",
    "medical.claim.reversed.v1",
    "medical.fund.low.v1",
}


def household(seq: int = 3, **overrides: Any) -> dict[str, Any]:
    """A household snapshot in its canonical JSON form (every field, as the model writes it)."""
    snapshot: dict[str, Any] = {
        "household_id": HOUSEHOLD,
        "seq": seq,
        "status": "exited",
        "category": "dibao",
        "street_code": "420102001",
        "community_code": "420102001001",
        "cohort": "2026-1",
        "enrolled_on": "2026-03-01",
        "size": 3,
        "monthly_income": "1234.50",
        "dibao_monthly": "600.00",
        "causes": ["illness", "unemployment"],
        "relapsed": False,
        "zero_employment": False,
        "transition": {"starts_on": "2026-04-15", "ends_on": "2026-10-15"},
        "exit": {"reason": "employment", "exited_on": "2026-10-15", "monitoring_until": "2029-10-15"},
        "helper": {"kind": "cadre", "id": CADRE, "department_code": "D042"},
    }
    return snapshot | overrides


def person(seq: int = 2, **overrides: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "person_id": PERSON,
        "seq": seq,
        "household_id": HOUSEHOLD,
        "member_since": "2026-03-01",
        "id_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "birth_year": 1980,
        "sex": "male",
        "work_ability": "partial",
        "employment_status": "unemployed",
        "disability_level": 2,
        "chronic_illness": True,
        "education": "junior_high",
        "skills": ["cleaning", "remote_customer_service"],
        "pension_insured": False,
        "medical_insured": True,
        "active": True,
    }
    return snapshot | overrides


HELPER = {"kind": "branch", "id": BRANCH, "department_code": None}
CLAIM_CASE_1 = {  # DOMAIN.md worked example 1: dibao, level 2, 30,000.00 / 26,000.00
    "seq": 1,
    "claim_id": CLAIM,
    "person_id": PERSON,
    "household_id": HOUSEHOLD,
    "category": "dibao",
    "street_code": "420102001",
    "community_code": "420102001001",
    "policy_year": 2026,
    "discharged_on": "2026-03-10",
    "total": "30000.00",
    "in_policy": "26000.00",
    "lines": {
        "basic": "17920.00",
        "critical_illness": "1352.00",
        "assistance": "4709.60",
        "charity": "2000.00",
        "supplementary": "0.00",
    },
    "out_of_pocket": "4018.40",
    "oop_ratio": "0.1339",
    "cap_met": True,
}

# One canonical payload per type, exactly as the model writes it, with the aggregate it is about.
SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "registry.household.enrolled.v1": (
        {"seq": 1, "household": household(1, status="enrolled", transition=None, exit=None, helper=None)},
        HOUSEHOLD,
    ),
    "registry.household.updated.v1": (
        {"seq": 4, "household": household(4), "changes": {"monthly_income": "1234.50", "size": 3}},
        HOUSEHOLD,
    ),
    "registry.household.transition_started.v1": (
        {
            "seq": 2,
            "household": household(2, status="transition", exit=None),
            "starts_on": "2026-04-15",
            "ends_on": "2026-10-15",
        },
        HOUSEHOLD,
    ),
    "registry.household.transition_cancelled.v1": (
        {
            "seq": 3,
            "household": household(3, status="enrolled", transition=None, exit=None),
            "cancelled_on": "2026-05-02",
            "reason": "income_at_or_below_line",
        },
        HOUSEHOLD,
    ),
    "registry.household.exited.v1": (
        {
            "seq": 3,
            "household": household(3, helper=None),
            "reason": "employment",
            "exited_on": "2026-10-15",
            "monitoring_until": "2029-10-15",
            "employed_person_ids": [PERSON, PERSON_2],
        },
        HOUSEHOLD,
    ),
    "registry.household.exit_undone.v1": (
        {"seq": 5, "household": household(5, status="transition", exit=None), "undone_on": "2026-10-20"},
        HOUSEHOLD,
    ),
    "registry.household.relapsed.v1": (
        {
            "seq": 6,
            "household": household(
                6, status="enrolled", relapsed=True, exit=None, transition=None, helper=None
            ),
            "cause": "illness",
            "relapsed_on": "2027-02-01",
        },
        HOUSEHOLD,
    ),
    "registry.person.added.v1": ({"seq": 1, "person": person(1)}, PERSON),
    "registry.person.updated.v1": ({"seq": 2, "person": person(2, employment_status="employed")}, PERSON),
    "registry.person.removed.v1": ({"seq": 3, "person": person(3, active=False)}, PERSON),
    "registry.pairing.assigned.v1": (
        {
            "seq": 1,
            "household_id": HOUSEHOLD,
            "helper": {"kind": "cadre", "id": CADRE, "department_code": "D042"},
            "street_code": "420102001",
            "on": "2026-03-05",
        },
        HOUSEHOLD,
    ),
    "registry.pairing.released.v1": (
        {
            "seq": 2,
            "household_id": HOUSEHOLD,
            "helper": HELPER,
            "street_code": "420102001",
            "on": "2026-10-15",
        },
        HOUSEHOLD,
    ),
    "registry.visit.recorded.v1": (
        {
            "seq": 1,
            "visit_id": VISIT,
            "household_id": HOUSEHOLD,
            "helper": HELPER,
            "visited_on": "2026-03-20",
            "satisfaction": 4,
            "needs": ["job", "medical_aid"],
        },
        VISIT,
    ),
    "registry.measure.planned.v1": (
        {
            "seq": 1,
            "measure_id": MEASURE,
            "household_id": HOUSEHOLD,
            "policy_code": "EMP-01",
            "helper": HELPER,
            "due_on": "2026-06-30",
            "completed_on": None,
        },
        MEASURE,
    ),
    "registry.measure.completed.v1": (
        {
            "seq": 2,
            "measure_id": MEASURE,
            "household_id": HOUSEHOLD,
            "policy_code": "EMP-01",
            "helper": None,
            "due_on": "2026-06-30",
            "completed_on": "2026-06-12",
        },
        MEASURE,
    ),
    "registry.alert.raised.v1": (
        {
            "seq": 1,
            "alert_id": ALERT,
            "household_id": HOUSEHOLD,
            "kind": "medical_hardship",
            "severity": "high",
            "on": "2026-03-11",
        },
        ALERT,
    ),
    "registry.alert.resolved.v1": (
        {
            "seq": 3,
            "alert_id": ALERT,
            "household_id": HOUSEHOLD,
            "kind": "relapse_risk",
            "severity": "high",
            "on": "2026-04-01",
        },
        ALERT,
    ),
    "registry.reward.granted.v1": (
        {"seq": 1, "household_id": HOUSEHOLD, "year_index": 2, "amount": "1000.00", "on": "2028-10-15"},
        f"{HOUSEHOLD}/2",
    ),
    "registry.parameters.set.v1": (
        {
            "seq": 1,
            "effective_from": "2026-01-01",
            "dibao_line": "900.00",
            "transition_months": 6,
            "monitoring_years": 3,
            "visit_interval_days": 30,
            "retirement_age": {"male": 60, "female": 55},
        },
        "2026-01-01",
    ),
    "matching.placement.hired.v1": (
        {
            "seq": 1,
            "placement_id": PLACEMENT,
            "person_id": PERSON,
            "household_id": HOUSEHOLD,
            "posting_id": POSTING,
            "monthly_wage": "2800.00",
            "public_welfare": True,
            "remote": False,
            "started_on": "2026-04-15",
        },
        PLACEMENT,
    ),
    "matching.placement.retained.v1": (
        {
            "seq": 2,
            "placement_id": PLACEMENT,
            "person_id": PERSON,
            "household_id": HOUSEHOLD,
            "months": 3,
            "on": "2026-07-15",
        },
        PLACEMENT,
    ),
    "matching.placement.ended.v1": (
        {
            "seq": 3,
            "placement_id": PLACEMENT,
            "person_id": PERSON,
            "household_id": HOUSEHOLD,
            "monthly_wage": "2800.00",
            "reason": "left",
            "ended_on": "2026-08-31",
        },
        PLACEMENT,
    ),
    "matching.training.completed.v1": (
        {
            "seq": 1,
            "person_id": PERSON,
            "household_id": HOUSEHOLD,
            "training_id": TRAINING,
            "skills": ["remote_customer_service"],
            "completed_on": "2026-05-30",
        },
        f"{TRAINING}/{PERSON}",
    ),
    "medical.policy_year.set.v1": (
        {"seq": 2, "policy_year": 2026, "supplementary_budget": "3000000.00", "charity_budget": None},
        "2026",
    ),
    "medical.claim.settled.v1": (CLAIM_CASE_1, CLAIM),
    "medical.claim.reversed.v1": (
        CLAIM_CASE_1 | {"seq": 2, "reason": "duplicate_settlement", "reversed_on": "2026-03-15"},
        CLAIM,
    ),
    "medical.fund.low.v1": (
        {
            "seq": 1,
            "fund": "supplementary",
            "policy_year": 2026,
            "remaining": "149999.99",
            "budget": "3000000.00",
        },
        "2026/supplementary",
    ),
}


def sample(event_type: str) -> dict[str, Any]:
    return copy.deepcopy(SAMPLES[event_type][0])


# --- the catalogue


def test_every_catalogue_type_has_a_model() -> None:
    assert set(EVENT_TYPES) >= CATALOGUE
    assert all(payload_model(event_type) is EVENT_TYPES[event_type] for event_type in CATALOGUE)


def test_each_model_knows_its_own_type() -> None:
    for event_type in CATALOGUE:
        assert EVENT_TYPES[event_type].event_type == event_type


def test_every_catalogue_type_has_a_sample_here() -> None:
    assert set(SAMPLES) == CATALOGUE


def test_an_unknown_type_has_no_model() -> None:
    assert payload_model("registry.household.teleported.v1") is None
    assert payload_model("registry.household.exited.v9") is None
    assert parse_payload("registry.household.teleported.v1", {"seq": 1}) is None


# --- JSON shapes and round trips


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_a_payload_round_trips_through_json_unchanged(event_type: str) -> None:
    wire = json.dumps(sample(event_type))
    payload = EVENT_TYPES[event_type].model_validate_json(wire)
    assert json.loads(payload.model_dump_json()) == json.loads(wire)
    assert EVENT_TYPES[event_type].model_validate_json(payload.model_dump_json()) == payload


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_a_payload_names_its_aggregate_and_version(event_type: str) -> None:
    data, aggregate_id = SAMPLES[event_type]
    payload = parse_payload(event_type, data)
    assert payload is not None
    assert payload.aggregate_id == aggregate_id
    assert payload.aggregate_seq == data["seq"]


def test_household_event_has_household_snapshot_and_its_own_fields_beside_it() -> None:
    exited = HouseholdExited.model_validate(sample("registry.household.exited.v1"))
    dumped = exited.model_dump(mode="json")
    assert list(dumped) == [
        "seq",
        "household",
        "reason",
        "exited_on",
        "monitoring_until",
        "employed_person_ids",
    ]
    assert dumped["household"]["monthly_income"] == "1234.50"
    assert dumped["household"]["seq"] == dumped["seq"] == 3
    assert exited.household.monthly_income == Decimal("1234.50")
    assert exited.exited_on == dt.date(2026, 10, 15)


def test_money_is_written_with_two_places_whatever_form_it_came_in() -> None:
    data = sample("registry.household.enrolled.v1")
    data["household"]["monthly_income"] = 1234.5
    data["household"]["dibao_monthly"] = "600"
    payload = EVENT_TYPES["registry.household.enrolled.v1"].model_validate_json(json.dumps(data))
    snapshot = json.loads(payload.model_dump_json())["household"]
    assert (snapshot["monthly_income"], snapshot["dibao_monthly"]) == ("1234.50", "600.00")


def test_money_with_a_fraction_of_a_cent_is_refused() -> None:
    data = sample("matching.placement.hired.v1")
    data["monthly_wage"] = "2800.005"
    with pytest.raises(ValidationError, match="monthly_wage"):
        EVENT_TYPES["matching.placement.hired.v1"].model_validate(data)


# --- tolerance


def test_unknown_fields_are_ignored_at_every_level() -> None:
    data = sample("registry.household.exited.v1")
    data["added_in_v1_1"] = {"anything": 1}
    data["household"]["grid_code"] = "420102001001001"
    data["household"]["helper"] = {"kind": "cadre", "id": CADRE, "department_code": "D042", "rank": "section"}
    payload = HouseholdExited.model_validate(data)
    dumped = payload.model_dump(mode="json")
    assert "added_in_v1_1" not in dumped
    assert "grid_code" not in dumped["household"]
    assert dumped["household"]["helper"] == {"kind": "cadre", "id": CADRE, "department_code": "D042"}


@pytest.mark.parametrize(
    ("event_type", "path", "bad"),
    [
        ("registry.household.enrolled.v1", ("household", "status"), "active"),
        ("registry.household.enrolled.v1", ("household", "category"), "poor"),
        ("registry.household.enrolled.v1", ("household", "causes"), ["illness", "bad_luck"]),
        ("registry.household.exited.v1", ("reason",), "retired"),
        ("registry.household.relapsed.v1", ("cause",), "job_lost"),
        ("registry.person.added.v1", ("person", "work_ability"), "some"),
        ("registry.person.added.v1", ("person", "employment_status"), "self_employed"),
        ("registry.person.added.v1", ("person", "education"), "phd"),
        ("registry.person.added.v1", ("person", "sex"), "m"),
        ("registry.pairing.assigned.v1", ("helper", "kind"), "volunteer"),
        ("registry.alert.raised.v1", ("kind",), "flood"),
        ("registry.alert.raised.v1", ("severity",), "High"),
        ("matching.placement.retained.v1", ("months",), 4),
        ("medical.claim.settled.v1", ("category",), "rural"),
        ("medical.fund.low.v1", ("fund",), "basic"),
        ("registry.household.enrolled.v1", ("household", "street_code"), "4201020"),
        ("registry.household.enrolled.v1", ("household", "community_code"), "420102001"),
        ("registry.pairing.assigned.v1", ("helper", "department_code"), "d 42"),
    ],
)
def test_a_value_outside_its_vocabulary_is_refused(
    event_type: str, path: tuple[str, ...], bad: object
) -> None:
    data = sample(event_type)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(ValidationError):
        EVENT_TYPES[event_type].model_validate(data)


def test_payloads_are_immutable() -> None:
    payload = VisitRecorded.model_validate(sample("registry.visit.recorded.v1"))
    with pytest.raises(ValidationError):
        payload.satisfaction = 1  # type: ignore[misc]


# --- seq


def test_household_event_takes_its_seq_from_the_snapshot_when_none_is_given() -> None:
    data = sample("registry.household.exited.v1")
    del data["seq"]
    payload = HouseholdExited.model_validate(data)
    assert payload.seq == 3
    assert payload.model_dump(mode="json")["seq"] == 3


def test_household_event_built_in_python_carries_the_snapshot_seq_on_top() -> None:
    snapshot = HouseholdSnapshot.model_validate(household(7))
    payload = HouseholdExited(household=snapshot, reason="moved_away", exited_on=dt.date(2026, 9, 1))
    assert payload.seq == 7
    assert payload.aggregate_seq == 7
    assert payload.monitoring_until is None


def test_household_event_whose_seqs_disagree_is_refused() -> None:
    data = sample("registry.household.exited.v1")
    data["seq"] = 4
    with pytest.raises(ValidationError, match=r"seq 4 disagrees with household.seq 3"):
        HouseholdExited.model_validate(data)


def test_person_event_whose_seqs_disagree_is_refused() -> None:
    data = sample("registry.person.updated.v1")
    data["seq"] = 1
    with pytest.raises(ValidationError, match=r"person.seq 2"):
        EVENT_TYPES["registry.person.updated.v1"].model_validate(data)


def test_flat_event_built_without_seq_leaves_it_to_the_unit_of_work() -> None:
    data = sample("registry.visit.recorded.v1")
    del data["seq"]
    visit = VisitRecorded.model_validate(data)
    assert visit.seq is None
    assert visit.model_dump(mode="json")["seq"] is None
    with pytest.raises(ValueError, match="seq not assigned yet"):
        _ = visit.aggregate_seq
    # what the unit of work does at commit: the seq goes on top of the dumped data
    sent = {**visit.model_dump(mode="json"), "seq": 5}
    received = parse_payload("registry.visit.recorded.v1", sent)
    assert received is not None
    assert received.aggregate_seq == 5


def test_a_received_payload_without_seq_is_refused() -> None:
    data = sample("registry.visit.recorded.v1")
    del data["seq"]
    with pytest.raises(ValueError, match="seq"):
        parse_payload("registry.visit.recorded.v1", data)


def test_seq_starts_at_one() -> None:
    data = sample("registry.visit.recorded.v1")
    data["seq"] = 0
    with pytest.raises(ValidationError):
        VisitRecorded.model_validate(data)


# --- rules carried by particular types


def test_household_changes_keep_only_snapshot_fields() -> None:
    data = sample("registry.household.updated.v1")
    data["changes"] = {"monthly_income": "1500.00", "address": "汉口某路1号", "head_name": "张三", "seq": 9}
    payload = HouseholdUpdated.model_validate(data)
    assert payload.changes == {"monthly_income": "1500.00"}


def test_claim_lines_and_out_of_pocket_must_add_up_to_the_total() -> None:
    data = sample("medical.claim.settled.v1")
    data["out_of_pocket"] = "4018.41"
    with pytest.raises(ValidationError, match=r"!= total 30000\.00"):
        ClaimSettled.model_validate(data)


def test_claim_in_policy_cost_cannot_exceed_the_total() -> None:
    data = sample("medical.claim.settled.v1")
    data["in_policy"] = "30000.01"
    with pytest.raises(ValidationError, match=r"in_policy 30000\.01 exceeds total"):
        ClaimSettled.model_validate(data)


def test_claim_of_a_person_in_no_household_has_nulls_there() -> None:
    data = sample("medical.claim.settled.v1")
    for field in ("household_id", "category", "street_code", "community_code", "cap_met"):
        del data[field]
    claim = ClaimSettled.model_validate(data)
    assert (claim.household_id, claim.category, claim.street_code, claim.cap_met) == (None, None, None, None)


def test_measure_completed_requires_its_completion_date() -> None:
    data = sample("registry.measure.completed.v1")
    data["completed_on"] = None
    with pytest.raises(ValidationError, match="completed_on"):
        EVENT_TYPES["registry.measure.completed.v1"].model_validate(data)


def test_reward_year_index_is_one_to_three() -> None:
    data = sample("registry.reward.granted.v1")
    data["year_index"] = 4
    with pytest.raises(ValidationError, match="year_index"):
        EVENT_TYPES["registry.reward.granted.v1"].model_validate(data)


# --- type strings


def test_subject_stream_aggregate_and_version_of_a_type() -> None:
    assert subject_for("registry.household.exited.v1") == "registry.household.exited"
    assert subject_for("medical.policy_year.set.v12") == "medical.policy_year.set"
    assert stream_for("registry.household.exited.v1") == "REGISTRY"
    assert stream_for("matching.placement.hired.v1") == "MATCHING"
    assert stream_for("medical.claim.reversed.v1") == "MEDICAL"
    assert stream_for("metrics.report.published.v1") == "METRICS"
    assert aggregate_of("registry.household.exited.v1") == "household"
    assert aggregate_of("medical.policy_year.set.v1") == "policy_year"
    assert version_of("registry.household.exited.v2") == 2


@pytest.mark.parametrize(
    "bad",
    [
        "registry.household.exited",
        "registry.household.v1",
        "registry.household.exited.v0",
        "registry.household.exited.1",
        "Registry.household.exited.v1",
        "registry.household.exited.v1.extra",
        "",
    ],
)
def test_a_malformed_type_string_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an event type"):
        subject_for(bad)


def test_a_type_from_an_unknown_service_has_no_stream() -> None:
    with pytest.raises(ValueError, match="no stream"):
        stream_for("billing.invoice.sent.v1")


def test_each_catalogue_type_belongs_to_its_producers_stream() -> None:
    assert {stream_for(event_type) for event_type in CATALOGUE} == {"REGISTRY", "MATCHING", "MEDICAL"}


# --- registering more types


@pytest.fixture
def scratch_type() -> Iterator[str]:
    event_type = "metrics.report.published.v1"
    yield event_type
    EVENT_TYPES.pop(event_type, None)


class ReportPublished(EventPayload):
    event_type: ClassVar[str] = "metrics.report.published.v1"
    period: str

    @property
    def aggregate_id(self) -> str:
        return self.period


def test_a_service_registers_its_own_type(scratch_type: str) -> None:
    assert register_event_type(scratch_type, ReportPublished) is ReportPublished
    assert payload_model(scratch_type) is ReportPublished
    assert register_event_type(scratch_type, ReportPublished) is ReportPublished  # again: no-op
    payload = parse_payload(scratch_type, {"seq": 1, "period": "2026-Q2"})
    assert payload is not None
    assert payload.aggregate_id == "2026-Q2"


def test_register_event_type_works_as_a_decorator(scratch_type: str) -> None:
    @register_event_type(scratch_type)
    class Published(EventPayload):
        period: str

    assert payload_model(scratch_type) is Published


def test_a_registered_type_cannot_be_taken_by_another_model() -> None:
    with pytest.raises(ValueError, match="already registered to HouseholdExited"):
        register_event_type("registry.household.exited.v1", ReportPublished)
    assert payload_model("registry.household.exited.v1") is HouseholdExited


def test_only_event_payloads_can_be_registered(scratch_type: str) -> None:
    class NotAPayload(BaseModel):
        period: str

    with pytest.raises(TypeError):
        register_event_type(scratch_type, NotAPayload)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="not an event type"):
        register_event_type("report-published", ReportPublished)


# --- no personal data

FORBIDDEN = ("name", "id_number", "phone", "address", "diagnosis", "note")


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> Iterator[str]:
    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for field_name, info in model.model_fields.items():
        yield field_name
        if info.alias:
            yield info.alias
        for nested in _models_in(info.annotation):
            yield from _field_names(nested, seen)


def personal_data_fields(models: typing.Iterable[type[BaseModel]]) -> set[str]:
    return {
        field_name
        for model in models
        for field_name in _field_names(model)
        if any(word in field_name.lower() for word in FORBIDDEN)
    }


def test_no_event_carries_personal_data_fields() -> None:
    assert personal_data_fields(EVENT_TYPES.values()) == set()


def test_the_personal_data_scan_finds_fields_in_nested_models() -> None:
    class Contact(BaseModel):
        contact_phone: str

    class Leaky(BaseModel):
        full_name: str
        contacts: list[Contact] | None = None
        diagnosis_note: str

    assert personal_data_fields([Leaky]) == {"full_name", "contact_phone", "diagnosis_note"}


def test_every_model_has_a_json_schema_with_money_as_strings() -> None:
    for model in EVENT_TYPES.values():
        model.model_json_schema(mode="serialization")
    schema = ClaimSettled.model_json_schema(mode="serialization")
    assert schema["properties"]["total"]["type"] == "string"
    assert schema["properties"]["oop_ratio"]["type"] == "string"
