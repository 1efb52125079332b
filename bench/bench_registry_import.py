"""Benchmark of the registry's bulk import: 100,000 households (about 250,000 persons) end to end.

1. import — `POST /registry/v1/imports` with a CSV of the template (docs/import-template.md) on the registry app
   (in-process, httpx over ASGI, every middleware), then polling `GET /imports/{id}` until it finishes: upload,
   streaming read, validation (ID numbers, enums, duplicates), encryption, keyed hashes, and the writes of
   households, persons, history, incomes, audit entries and one outbox event per household and per person.
2. baseline — a raw `COPY` of the same CSV rows into a bare table of text columns, in the same run.

Reports seconds, the service's CPU seconds, persons per second, the ratio import ÷ COPY, the process's peak RSS
and the load average (figures taken on a busy machine are slower, not wrong). The database is an
embedded PostgreSQL in a temp folder (or BENCH_DATABASE_URL's server, with a fresh database when allowed); the
relay, consumers and scheduler are off (the outbox rows are still written).

    uv run python bench/bench_registry_import.py [--households 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from stdnum.cn import ric

from uplift.common.app import running
from uplift.common.auth import mint_token
from uplift.common.embedded import (
    plain_postgres_url,
    scratch_database,
)
from uplift.common.testkit import service_settings
from uplift.registry.main import create_app
from uplift.registry.service.imports import COLUMNS

DISTRICT = "420102"
STREETS = [f"{DISTRICT}{number:03d}" for number in range(1, 15)]
HEADER = list(COLUMNS)


def database() -> contextlib.AbstractContextManager[str]:
    """A database URL (asyncpg form): BENCH_DATABASE_URL's server, or an embedded PostgreSQL."""
    return scratch_database("bench_import")


def write_file(path: Path, households: int, seed: int = 7) -> int:
    """A template CSV of `households` households, 1–4 persons each (2.5 on average); returns the rows."""
    rng = random.Random(seed)
    rows = 0
    serial = 0

    def id_number(born: dt.date, female: bool) -> str:
        nonlocal serial
        serial += 1
        # Unique by construction: a region code and sequence drawn from the serial.
        region = f"42{serial // 500 % 10000:04d}"
        sequence = serial % 500 * 2 + (0 if female else 1)
        body = f"{region}{born:%Y%m%d}{sequence:03d}"
        return body + ric.calc_check_digit(body + "0")

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(households):
            street = STREETS[index % len(STREETS)]
            community = f"{street}{index % 5 + 1:03d}"
            size = rng.choice((1, 2, 2, 3, 4))  # mean 2.4
            head_born = dt.date(1950 + rng.randrange(50), rng.randrange(1, 13), rng.randrange(1, 29))
            head = id_number(head_born, female=False)
            household = [
                head,
                community,
                f"街道{index}号",
                rng.choice(("低保", "特困", "低收入")),
                f"{rng.randrange(0, 1500)}.00",
                "600.00",
                rng.choice(("疾病", "残疾、疾病", "失业")),
                "2026-1",
                "2026-03-01",
            ]
            for position in range(size):
                female = position % 2 == 1
                born = head_born if position == 0 else dt.date(1960 + rng.randrange(55), rng.randrange(1, 13), 15)
                relation = "户主" if position == 0 else ("配偶" if position == 1 else "子女")
                number = head if position == 0 else id_number(born, female)
                writer.writerow(
                    [
                        *household,
                        f"居民{index}-{position}",
                        number,
                        relation,
                        "初中",
                        rng.choice(("全部", "部分", "无")),
                        rng.choice(("失业", "就业", "退休")),
                        "0",
                        "否",
                        "cleaning",
                        "是",
                        "是",
                        "13800001111",
                    ]
                )
                rows += 1
    return rows


async def seed_org_units(database_url: str) -> None:
    connection = await asyncpg.connect(plain_postgres_url(database_url))
    try:
        units = [(DISTRICT, "区", "district", None)]
        for street in STREETS:
            units.append((street, "街道", "street", DISTRICT))
            units += [(f"{street}{n:03d}", "社区", "community", street) for n in range(1, 6)]
        await connection.executemany(
            "INSERT INTO registry.org_units (code, name, kind, parent_code) VALUES ($1, $2, $3, $4)", units
        )
    finally:
        await connection.close()


async def bench_import(database_url: str, path: Path) -> dict[str, Any]:
    settings = service_settings(
        "registry",
        database_url,
        "nats://127.0.0.1:1",
        relay_enabled=False,
        consumers_enabled=False,
        scheduler_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {mint_token('district_admin', None, [])}"}
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            started = time.perf_counter()
            with path.open("rb") as handle:
                response = await client.post(
                    "/registry/v1/imports", files={"file": ("bench.csv", handle, "text/csv")}, headers=headers
                )
            response.raise_for_status()
            accepted = time.perf_counter() - started
            job_id = response.json()["id"]
            while True:
                await asyncio.sleep(0.5)
                outcome = (await client.get(f"/registry/v1/imports/{job_id}", headers=headers)).json()
                if outcome["status"] in ("succeeded", "failed"):
                    break
            seconds = time.perf_counter() - started
    outcome.pop("rejected", None)
    return {"seconds": round(seconds, 2), "upload_and_check_seconds": round(accepted, 2), "outcome": outcome}


async def bench_copy(database_url: str, path: Path) -> dict[str, Any]:
    connection = await asyncpg.connect(plain_postgres_url(database_url))
    try:
        columns = ", ".join(f"c{index} text" for index in range(len(HEADER)))
        await connection.execute(f"CREATE TABLE bench_raw_import ({columns})")
        started = time.perf_counter()
        with path.open("rb") as handle:
            await connection.copy_to_table("bench_raw_import", source=handle, format="csv", header=True)
        seconds = time.perf_counter() - started
        rows = await connection.fetchval("SELECT count(*) FROM bench_raw_import")
        await connection.execute("DROP TABLE bench_raw_import")
    finally:
        await connection.close()
    return {"seconds": round(seconds, 3), "rows": rows}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--households", type=int, default=int(os.environ.get("BENCH_REGISTRY_IMPORT_HOUSEHOLDS", 100_000))
    )
    args = parser.parse_args()
    from uplift.common.migrations import upgrade_all

    folder = Path(tempfile.mkdtemp(prefix="uplift-bench-import-file-"))
    path = folder / "households.csv"
    try:
        rows = write_file(path, args.households)
        file_mb = round(path.stat().st_size / 1e6, 1)
        with database() as database_url:
            upgrade_all(database_url, ("registry",))
            asyncio.run(seed_org_units(database_url))
            copy_before = asyncio.run(bench_copy(database_url, path))
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            imported = asyncio.run(bench_import(database_url, path))
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            # The service's own CPU (PostgreSQL's is not in it): steadier than wall time on a shared machine.
            imported["service_cpu_seconds"] = round(
                cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime, 2
            )
            copy_after = asyncio.run(bench_copy(database_url, path))
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
    copy_seconds = min(copy_before["seconds"], copy_after["seconds"])
    result = {
        "households": args.households,
        "persons": rows,
        "file_mb": file_mb,
        "import": imported,
        "copy_baseline": {"seconds": copy_seconds, "before": copy_before["seconds"], "after": copy_after["seconds"]},
        "persons_per_second": round(rows / imported["seconds"], 1),
        "ratio_import_to_copy": round(imported["seconds"] / copy_seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "aim_seconds": 60,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
