"""Logs are JSON lines and never carry personal data."""

from __future__ import annotations

import json

import pytest
import structlog

from uplift.common.observability import configure_logging, scrub_personal_data


def test_scrubber_drops_pii_keys_and_blanks_id_and_phone_shapes() -> None:
    event = scrub_personal_data(
        None,
        "info",
        {
            "event": "household_enrolled",
            "name": "张三",
            "id_number": "420102198001011231",
            "detail": "lookup for 420102198001011231 by 13812345678 failed",
            "household_id": "0192f3a0-0000-7000-8000-000000000000",
        },
    )
    assert event["name"] == "[redacted]" and event["id_number"] == "[redacted]"
    assert event["detail"] == "lookup for [id-redacted] by [phone-redacted] failed"
    assert event["household_id"] == "0192f3a0-0000-7000-8000-000000000000"


def test_configured_logger_writes_json_without_pii(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("registry", json_logs=True)
    structlog.get_logger("t").info("person_added", phone="13812345678", person_id="p-1")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "person_added" and record["person_id"] == "p-1"
    assert record["phone"] == "[redacted]" and record["service"] == "registry"
    assert "13812345678" not in line
