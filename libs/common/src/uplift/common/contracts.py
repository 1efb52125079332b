"""Payload models of the event catalogue (EVENTS.md, v1): the `data` of each CloudEvents envelope.

Shapes on the wire:
- household events: `{"seq": 3, "household": {"household_id": …, "seq": 3, …}, …the type's own fields}`;
  `registry.household.updated` adds `"changes": {"monthly_income": "1500.00"}` (snapshot field -> new value);
- person events: `{"seq": 2, "person": {"person_id": …, "seq": 2, …}}`;
- every other event is flat: `{"seq": 1, "visit_id": …, "household_id": …, …}`.

`seq` is the aggregate's version (EVENTS.md: +1 on every event about the aggregate; a consumer keeps the
snapshot with the greatest `seq`). It is always at the top of `data`, where the platform's unit of work,
consumer and `Envelope.seq` look for it. In snapshot events the snapshot's own `seq` is the authority: the
top-level one is copied from it when missing and must agree with it. In flat events it may be left `None` when
building the payload: the unit of work assigns it at commit. Read it uniformly as `payload.aggregate_seq`,
with `payload.aggregate_id` (the envelope `subject` to emit with):

    uow.emit(payload.event_type, subject=payload.aggregate_id, data=payload, seq=payload.seq)

Consumers tolerate what they do not know: unknown fields are ignored (`extra="ignore"`), unknown types have no
model (`payload_model` returns None). No model carries personal data (names, ID numbers, phones, addresses,
diagnoses, notes); `id_hash` (keyed hash of the ID number) is the only trace of an ID number.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from uplift.common.money import NonNegativeMoney, PositiveMoney, RatioStr

# --- vocabularies (DOMAIN.md; lower_snake strings)

HouseholdStatus = Literal["enrolled", "transition", "exited"]
Category = Literal["dibao", "tekun", "low_income"]
Cause = Literal[
    "illness",
    "disability",
    "unemployment",
    "lack_of_labour",
    "education",
    "elderly",
    "migrant_from_rural",
    "released_prisoner",
    "drug_rehabilitation",
    "other",
]
ExitReason = Literal[
    "employment",
    "substitute_support",
    "policy_support",
    "income_above_line",
    "moved_away",
    "deceased",
    "other",
]
WorkAbility = Literal["full", "partial", "none"]
EmploymentStatus = Literal["employed", "unemployed", "student", "retired", "unable"]
Education = Literal[
    "none", "primary", "junior_high", "senior_high", "vocational", "college", "bachelor", "postgraduate"
]
Sex = Literal["male", "female"]
HelperKind = Literal["cadre", "branch"]
AlertKind = Literal[
    "income_drop", "medical_hardship", "job_lost", "pension_gap", "visit_overdue", "relapse_risk"
]
FundName = Literal["supplementary", "charity"]

StreetCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
CommunityCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
DepartmentCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]{2,16}$")]
EnumCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""A lower_snake value of a vocabulary DOMAIN.md leaves open (alert severity, cancel and end reasons)."""
VocabularyCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A code from a data-managed vocabulary (skills, needs, policies): its format belongs to its owner."""
Seq = Annotated[int, Field(ge=1)]


class Contract(BaseModel):
    """Base of every payload part: tolerant of unknown fields, immutable once built."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- common parts


class Helper(Contract):
    kind: HelperKind
    id: uuid.UUID
    department_code: DepartmentCode | None = None  # a community's party branch has no department


class Transition(Contract):
    starts_on: dt.date
    ends_on: dt.date


class ExitInfo(Contract):
    reason: ExitReason
    exited_on: dt.date
    monitoring_until: dt.date | None = None  # only after a 脱贫 exit


class HouseholdSnapshot(Contract):
    household_id: uuid.UUID
    seq: Seq
    status: HouseholdStatus
    category: Category
    street_code: StreetCode
    community_code: CommunityCode
    cohort: str = Field(min_length=1, max_length=32)
    enrolled_on: dt.date
    size: int = Field(ge=0)  # active members
    monthly_income: NonNegativeMoney
    dibao_monthly: NonNegativeMoney
    causes: list[Cause] = Field(default_factory=list)
    relapsed: bool = False
    zero_employment: bool = False
    transition: Transition | None = None
    exit: ExitInfo | None = None
    helper: Helper | None = None


class PersonSnapshot(Contract):
    person_id: uuid.UUID
    seq: Seq
    household_id: uuid.UUID
    member_since: dt.date
    id_hash: str = Field(min_length=1, max_length=128)
    birth_year: int = Field(ge=1880, le=2200)
    sex: Sex
    work_ability: WorkAbility
    employment_status: EmploymentStatus
    disability_level: int = Field(ge=0, le=4)
    chronic_illness: bool
    education: Education
    skills: list[VocabularyCode] = Field(default_factory=list)
    pension_insured: bool
    medical_insured: bool
    active: bool


class RetirementAge(Contract):
    male: int = Field(ge=16, le=100)
    female: int = Field(ge=16, le=100)


class ClaimLines(Contract):
    """What each of the five lines of defense paid on a claim."""

    basic: NonNegativeMoney
    critical_illness: NonNegativeMoney
    assistance: NonNegativeMoney
    charity: NonNegativeMoney
    supplementary: NonNegativeMoney


# --- payload bases


class EventPayload(Contract):
    """The `data` of one event type. Subclasses set `event_type` and say which aggregate they are about."""

    event_type: ClassVar[str]

    seq: Seq | None = None

    @property
    def aggregate_id(self) -> str:
        """The aggregate this event is about: the envelope `subject`, and the key `seq` counts under."""
        raise NotImplementedError

    @property
    def aggregate_seq(self) -> int:
        """The aggregate's version carried by this event."""
        if self.seq is None:
            raise ValueError(f"{type(self).__name__}: seq not assigned yet (the unit of work assigns it)")
        return self.seq


def _seq_from_snapshot(data: Any, snapshot_field: str) -> Any:
    """Fill a missing top-level `seq` from the snapshot's (before validation, so it is validated as usual)."""
    if not isinstance(data, dict) or data.get("seq") is not None:
        return data
    snapshot = data.get(snapshot_field)
    inner = snapshot.get("seq") if isinstance(snapshot, Mapping) else getattr(snapshot, "seq", None)
    return data if inner is None else {**data, "seq": inner}


def _seqs_agree(outer: int | None, inner: int, snapshot_field: str) -> None:
    if outer != inner:
        raise ValueError(f"seq {outer} disagrees with {snapshot_field}.seq {inner}")


class HouseholdEvent(EventPayload):
    """An event about a household: its current snapshot, plus the type's own fields."""

    household: HouseholdSnapshot

    @model_validator(mode="before")
    @classmethod
    def _fill_seq(cls, data: Any) -> Any:
        return _seq_from_snapshot(data, "household")

    @model_validator(mode="after")
    def _check_seq(self) -> Self:
        _seqs_agree(self.seq, self.household.seq, "household")
        return self

    @property
    def aggregate_id(self) -> str:
        return str(self.household.household_id)

    @property
    def aggregate_seq(self) -> int:
        return self.household.seq


class PersonEvent(EventPayload):
    """An event about a person: their current snapshot."""

    person: PersonSnapshot

    @model_validator(mode="before")
    @classmethod
    def _fill_seq(cls, data: Any) -> Any:
        return _seq_from_snapshot(data, "person")

    @model_validator(mode="after")
    def _check_seq(self) -> Self:
        _seqs_agree(self.seq, self.person.seq, "person")
        return self

    @property
    def aggregate_id(self) -> str:
        return str(self.person.person_id)

    @property
    def aggregate_seq(self) -> int:
        return self.person.seq


# --- registry: households

# Household fields a `changes` map may name: the snapshot's. Anything else (an address, a head's name) is
# dropped on the way in, so an update can never carry personal data out of the registry.
_CHANGEABLE_HOUSEHOLD_FIELDS = frozenset(HouseholdSnapshot.model_fields) - {"household_id", "seq"}


class HouseholdEnrolled(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.enrolled.v1"


class HouseholdUpdated(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.updated.v1"

    changes: dict[str, JsonValue] = Field(default_factory=dict)  # snapshot field -> new value (JSON form)

    @field_validator("changes", mode="after")
    @classmethod
    def _snapshot_fields_only(cls, changes: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return {field: value for field, value in changes.items() if field in _CHANGEABLE_HOUSEHOLD_FIELDS}


class HouseholdTransitionStarted(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.transition_started.v1"

    starts_on: dt.date
    ends_on: dt.date


class HouseholdTransitionCancelled(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.transition_cancelled.v1"

    cancelled_on: dt.date
    reason: EnumCode  # e.g. income_at_or_below_line, operator


class HouseholdExited(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.exited.v1"

    reason: ExitReason
    exited_on: dt.date
    monitoring_until: dt.date | None = None
    employed_person_ids: list[uuid.UUID] = Field(default_factory=list)


class HouseholdExitUndone(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.exit_undone.v1"

    undone_on: dt.date


class HouseholdRelapsed(HouseholdEvent):
    event_type: ClassVar[str] = "registry.household.relapsed.v1"

    cause: Cause
    relapsed_on: dt.date


# --- registry: persons


class PersonAdded(PersonEvent):
    event_type: ClassVar[str] = "registry.person.added.v1"


class PersonUpdated(PersonEvent):
    event_type: ClassVar[str] = "registry.person.updated.v1"


class PersonRemoved(PersonEvent):
    event_type: ClassVar[str] = "registry.person.removed.v1"


# --- registry: pairing, visits, plans, alerts, rewards, parameters


class _PairingEvent(EventPayload):
    # The aggregate is the household's pairing (at most one active helper): seq counts its assignments and
    # releases, so the newest event tells who helps the household now.
    household_id: uuid.UUID
    helper: Helper
    street_code: StreetCode
    on: dt.date

    @property
    def aggregate_id(self) -> str:
        return str(self.household_id)


class PairingAssigned(_PairingEvent):
    event_type: ClassVar[str] = "registry.pairing.assigned.v1"


class PairingReleased(_PairingEvent):
    event_type: ClassVar[str] = "registry.pairing.released.v1"


class VisitRecorded(EventPayload):
    event_type: ClassVar[str] = "registry.visit.recorded.v1"

    visit_id: uuid.UUID
    household_id: uuid.UUID
    helper: Helper
    visited_on: dt.date
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    needs: list[VocabularyCode] = Field(default_factory=list)

    @property
    def aggregate_id(self) -> str:
        return str(self.visit_id)


class MeasurePlanned(EventPayload):
    event_type: ClassVar[str] = "registry.measure.planned.v1"

    measure_id: uuid.UUID
    household_id: uuid.UUID
    policy_code: VocabularyCode
    helper: Helper | None = None
    due_on: dt.date
    completed_on: dt.date | None = None

    @property
    def aggregate_id(self) -> str:
        return str(self.measure_id)


class MeasureCompleted(MeasurePlanned):
    event_type: ClassVar[str] = "registry.measure.completed.v1"

    completed_on: dt.date


class _AlertEvent(EventPayload):
    alert_id: uuid.UUID
    household_id: uuid.UUID
    kind: AlertKind
    severity: EnumCode
    on: dt.date

    @property
    def aggregate_id(self) -> str:
        return str(self.alert_id)


class AlertRaised(_AlertEvent):
    event_type: ClassVar[str] = "registry.alert.raised.v1"


class AlertResolved(_AlertEvent):
    event_type: ClassVar[str] = "registry.alert.resolved.v1"


class RewardGranted(EventPayload):
    event_type: ClassVar[str] = "registry.reward.granted.v1"

    household_id: uuid.UUID
    year_index: int = Field(ge=1, le=3)  # anniversary k of an employment exit (脱贫激励)
    amount: PositiveMoney
    on: dt.date

    @property
    def aggregate_id(self) -> str:
        return f"{self.household_id}/{self.year_index}"  # one reward per household and year


class ParametersSet(EventPayload):
    """One version of the registry's parameters, in force from `effective_from`."""

    event_type: ClassVar[str] = "registry.parameters.set.v1"

    effective_from: dt.date
    dibao_line: PositiveMoney
    transition_months: int = Field(ge=1)
    monitoring_years: int = Field(ge=1)
    visit_interval_days: int = Field(ge=1)
    retirement_age: RetirementAge

    @property
    def aggregate_id(self) -> str:
        return self.effective_from.isoformat()


# --- matching


class PlacementHired(EventPayload):
    event_type: ClassVar[str] = "matching.placement.hired.v1"

    placement_id: uuid.UUID
    person_id: uuid.UUID
    household_id: uuid.UUID
    posting_id: uuid.UUID
    monthly_wage: NonNegativeMoney
    public_welfare: bool
    remote: bool
    started_on: dt.date

    @property
    def aggregate_id(self) -> str:
        return str(self.placement_id)


class PlacementRetained(EventPayload):
    event_type: ClassVar[str] = "matching.placement.retained.v1"

    placement_id: uuid.UUID
    person_id: uuid.UUID
    household_id: uuid.UUID
    months: Literal[3, 6]
    on: dt.date

    @property
    def aggregate_id(self) -> str:
        return str(self.placement_id)


class PlacementEnded(EventPayload):
    event_type: ClassVar[str] = "matching.placement.ended.v1"

    placement_id: uuid.UUID
    person_id: uuid.UUID
    household_id: uuid.UUID
    monthly_wage: NonNegativeMoney  # the wage the household's income loses
    reason: EnumCode
    ended_on: dt.date

    @property
    def aggregate_id(self) -> str:
        return str(self.placement_id)


class TrainingCompleted(EventPayload):
    event_type: ClassVar[str] = "matching.training.completed.v1"

    person_id: uuid.UUID
    household_id: uuid.UUID
    training_id: uuid.UUID
    skills: list[VocabularyCode] = Field(default_factory=list)
    completed_on: dt.date

    @property
    def aggregate_id(self) -> str:
        return f"{self.training_id}/{self.person_id}"  # the person's enrolment in the training


# --- medical


class PolicyYearSet(EventPayload):
    event_type: ClassVar[str] = "medical.policy_year.set.v1"

    policy_year: int = Field(ge=2000, le=2200)
    supplementary_budget: NonNegativeMoney
    charity_budget: NonNegativeMoney | None = None  # null: the charity fund is unlimited

    @property
    def aggregate_id(self) -> str:
        return str(self.policy_year)


class ClaimSettled(EventPayload):
    event_type: ClassVar[str] = "medical.claim.settled.v1"

    claim_id: uuid.UUID
    person_id: uuid.UUID
    # the household the person belonged to on the discharge date (none if they belonged to none)
    household_id: uuid.UUID | None = None
    category: Category | None = None
    street_code: StreetCode | None = None
    community_code: CommunityCode | None = None
    policy_year: int = Field(ge=2000, le=2200)
    discharged_on: dt.date
    total: PositiveMoney
    in_policy: NonNegativeMoney
    lines: ClaimLines
    out_of_pocket: NonNegativeMoney
    oop_ratio: RatioStr
    cap_met: bool | None = None  # null outside the supplementary insurance's categories

    @model_validator(mode="after")
    def _lines_add_up(self) -> Self:
        # 五道防线: the lines plus out-of-pocket always add up to the total exactly
        lines = self.lines
        paid = lines.basic + lines.critical_illness + lines.assistance + lines.charity + lines.supplementary
        if paid + self.out_of_pocket != self.total:
            raise ValueError(f"lines {paid} + out_of_pocket {self.out_of_pocket} != total {self.total}")
        if self.in_policy > self.total:
            raise ValueError(f"in_policy {self.in_policy} exceeds total {self.total}")
        return self

    @property
    def aggregate_id(self) -> str:
        return str(self.claim_id)


class ClaimReversed(ClaimSettled):
    """The settled claim's fields, as settled, plus why and when it was reversed."""

    event_type: ClassVar[str] = "medical.claim.reversed.v1"

    reason: str = Field(min_length=1, max_length=200)
    reversed_on: dt.date


class FundLow(EventPayload):
    """A fund's remainder fell under its low threshold (published once per crossing)."""

    event_type: ClassVar[str] = "medical.fund.low.v1"

    fund: FundName
    policy_year: int = Field(ge=2000, le=2200)
    remaining: NonNegativeMoney
    budget: NonNegativeMoney

    @property
    def aggregate_id(self) -> str:
        return f"{self.policy_year}/{self.fund}"


# --- the catalogue

_CATALOGUE: tuple[type[EventPayload], ...] = (
    HouseholdEnrolled,
    HouseholdUpdated,
    HouseholdTransitionStarted,
    HouseholdTransitionCancelled,
    HouseholdExited,
    HouseholdExitUndone,
    HouseholdRelapsed,
    PersonAdded,
    PersonUpdated,
    PersonRemoved,
    PairingAssigned,
    PairingReleased,
    VisitRecorded,
    MeasurePlanned,
    MeasureCompleted,
    AlertRaised,
    AlertResolved,
    RewardGranted,
    ParametersSet,
    PlacementHired,
    PlacementRetained,
    PlacementEnded,
    TrainingCompleted,
    PolicyYearSet,
    ClaimSettled,
    ClaimReversed,
    FundLow,
)

EVENT_TYPES: dict[str, type[EventPayload]] = {model.event_type: model for model in _CATALOGUE}
"""Full type string (`registry.household.exited.v1`) -> payload model; `register_event_type` adds to it."""

STREAMS: dict[str, str] = {
    "registry": "REGISTRY",
    "matching": "MATCHING",
    "medical": "MEDICAL",
    "metrics": "METRICS",
}

_EVENT_TYPE = re.compile(r"([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.v([1-9][0-9]*)")

P = TypeVar("P", bound=EventPayload)


def _parts(event_type: str) -> tuple[str, str, str, int]:
    match = _EVENT_TYPE.fullmatch(event_type)
    if match is None:
        raise ValueError(f"not an event type (<service>.<aggregate>.<verb>.v<N>): {event_type!r}")
    service, aggregate, verb, version = match.groups()
    return service, aggregate, verb, int(version)


def subject_for(event_type: str) -> str:
    """The NATS subject: `registry.household.exited.v1` -> `registry.household.exited`."""
    service, aggregate, verb, _ = _parts(event_type)
    return f"{service}.{aggregate}.{verb}"


def stream_for(event_type: str) -> str:
    """The JetStream stream of the producing service: `registry.household.exited.v1` -> `REGISTRY`."""
    service = _parts(event_type)[0]
    try:
        return STREAMS[service]
    except KeyError:
        raise ValueError(f"no stream for service {service!r} of {event_type!r}") from None


def aggregate_of(event_type: str) -> str:
    """The aggregate an event type is about: `registry.household.exited.v1` -> `household`."""
    return _parts(event_type)[1]


def version_of(event_type: str) -> int:
    """The payload version: `registry.household.exited.v1` -> 1."""
    return _parts(event_type)[3]


def payload_model(event_type: str) -> type[EventPayload] | None:
    """The payload model of a type, or None for a type this process does not know (ack and ignore it)."""
    return EVENT_TYPES.get(event_type)


def parse_payload(event_type: str, data: Mapping[str, Any]) -> EventPayload | None:
    """Validate a received payload; None for an unknown type. A payload without `seq` is a ValueError."""
    model = payload_model(event_type)
    if model is None:
        return None
    payload = model.model_validate(dict(data))
    _ = payload.aggregate_seq  # raises when the producer sent no seq
    return payload


@overload
def register_event_type(event_type: str) -> Callable[[type[P]], type[P]]: ...


@overload
def register_event_type(event_type: str, model: type[P]) -> type[P]: ...


def register_event_type(
    event_type: str, model: type[P] | None = None
) -> type[P] | Callable[[type[P]], type[P]]:
    """Register a payload model for a type; used directly or as a class decorator.

    Registering the same model again is a no-op; another model for a registered type is a ValueError.
    """
    _parts(event_type)

    def register(payload: type[P]) -> type[P]:
        if not (isinstance(payload, type) and issubclass(payload, EventPayload)):
            raise TypeError(f"{payload!r} is not an EventPayload model")
        known = EVENT_TYPES.get(event_type)
        if known is not None and known is not payload:
            raise ValueError(f"{event_type} is already registered to {known.__name__}")
        EVENT_TYPES[event_type] = payload
        return payload

    return register if model is None else register(model)
