"""The CloudEvents 1.0 envelope of EVENTS.md (JSON structured mode)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from uplift.common.contracts import subject_for
from uplift.common.db import new_id, utcnow


class Envelope(BaseModel):
    """One event as it travels: `data` is the versioned payload (a dict; validate it with its payload model)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    specversion: str = "1.0"
    id: uuid.UUID = Field(default_factory=new_id)
    type: str
    source: str
    subject: str
    time: dt.datetime = Field(default_factory=utcnow)
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def nats_subject(self) -> str:
        """`registry.household.exited.v1` travels on `registry.household.exited`."""
        return subject_for(self.type)

    @property
    def seq(self) -> int | None:
        seq = self.data.get("seq")
        return int(seq) if seq is not None else None

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def to_jsonable(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)
