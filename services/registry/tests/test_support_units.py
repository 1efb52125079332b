"""Pure pieces of the helper half: bulk UUIDv7s, the pairing event payloads, expression errors as 422s."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from uplift.common.contracts import PairingAssigned, PairingReleased, parse_payload
from uplift.common.errors import Unprocessable
from uplift.registry.service import pairings
from uplift.registry.service.policies import compile_or_reject
from uplift.registry.service.visits import NEED_CODES


def test_bulk_ids_are_version_7_and_strictly_increasing() -> None:
    ids = pairings.time_ordered_ids(10_000)
    assert len(set(ids)) == 10_000
    assert ids == sorted(ids)
    assert {value.version for value in ids} == {7}
    assert {value.variant for value in ids} == {uuid.RFC_4122}
    assert pairings.time_ordered_ids(0) == []


class _RecordingUnitOfWork:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str, dict[str, object], int | None]] = []

    def emit(self, event_type: str, *, subject: str, data: dict[str, object], seq: int | None = None) -> None:
        self.emitted.append((event_type, subject, data, seq))


@pytest.mark.parametrize("event", [PairingAssigned, PairingReleased])
async def test_pairing_payloads_parse_as_their_contract(
    event: type[PairingAssigned] | type[PairingReleased], monkeypatch: pytest.MonkeyPatch
) -> None:
    household, helper = uuid.uuid4(), uuid.uuid4()

    async def seqs(uow: object, aggregate: str, ids: list[str]) -> dict[str, int]:
        assert aggregate == "pairing"
        return {key: 4 for key in ids}

    monkeypatch.setattr(pairings, "assign_seqs", seqs)
    uow = _RecordingUnitOfWork()
    rows = [(household, "branch", helper, None, "420102001")]
    await pairings._emit_pairing_events(uow, event, rows, dt.date(2026, 6, 1))  # type: ignore[arg-type]
    ((event_type, subject, data, seq),) = uow.emitted
    parsed = parse_payload(event_type, {**data, "seq": seq})
    assert isinstance(parsed, event) and event_type == event.event_type
    assert subject == str(household) and parsed.aggregate_id == subject
    assert parsed.helper.id == helper and parsed.helper.department_code is None and parsed.on == dt.date(2026, 6, 1)


def test_an_expression_that_does_not_compile_is_a_422_with_its_position() -> None:
    with pytest.raises(Unprocessable) as raised:
        compile_or_reject('person.age >= 16 &&\n person.work_ability == "full" ||| true')
    problem = raised.value.to_problem("/x")
    assert problem["errors"][0]["field"] == "eligibility"
    assert (problem["line"], problem["column"]) == (2, 34)  # the third "|"
    assert compile_or_reject("person.age >= 60").uses_person


def test_need_codes_follow_the_policy_areas() -> None:
    assert NEED_CODES[:2] == ("employment", "education")
    assert {"health", "housing", "income", "other"} <= set(NEED_CODES)
    assert len(NEED_CODES) == 12
