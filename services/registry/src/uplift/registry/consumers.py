"""Events the registry consumes: matching's placements and trainings, medical's claims."""

from __future__ import annotations

from uplift.common.consumer import ConsumerSpec

consumers: list[ConsumerSpec] = []
