"""Benchmark of the registry's hot read: `GET /registry/v1/households/{id}` (members embedded, PII decrypted and
masked) against a bare authenticated endpoint, in the same run.

- bare: a FastAPI app whose one route only asks for the same `require(...)` dependency (before and after; mean);
- masked: `GET /households/{id}` as a district admin without `pii:read`, over the households in turn;
- unmasked: the same with `pii:read`, so every read also writes and commits its audit entry.
Each under uvicorn (1 worker, uvloop, httptools) in a subprocess, loaded at 50 keep-alive connections by the
load generator of `bench_medical.py`. The households (2,000 by default, about 2.4 members each) are enrolled
through `POST /imports` first. Reports requests per second, p50/p99 and the ratio to bare (aim: at least 0.5).

    uv run python bench/bench_registry_reads.py [--households 2000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import uvloop
from fastapi import Depends, FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_medical
from bench_medical import HOST, get_request, load
from bench_registry_import import database, seed_org_units, write_file

from uplift.common.app import running
from uplift.common.auth import AuthConfig, Principal, TokenVerifier, mint_token, require
from uplift.common.embedded import plain_postgres_url
from uplift.common.testkit import service_settings

READERS = ("district_admin", "street_operator", "community_worker", "cadre")


def registry_app(database_url: str) -> Any:
    from uplift.registry.main import create_app

    return create_app(
        service_settings(
            "registry",
            database_url,
            "nats://127.0.0.1:9",  # never reached: relay and consumers are off
            relay_enabled=False,
            consumers_enabled=False,
            scheduler_enabled=False,
            log_level="WARNING",
            db_pool_size=10,
        )
    )


Reader = Annotated[Principal, Depends(require(*READERS, any_of_perms=("registry:read",)))]


def bare_app() -> Any:
    """The baseline: one route behind the same authentication and role check, nothing else."""
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(AuthConfig.development())

    @app.get("/bare")
    async def bare(principal: Reader) -> dict[str, str]:
        return {"status": "ok", "sub": principal.sub}

    return app


def server_worker(cfg: dict[str, Any]) -> None:
    import uvicorn

    app = registry_app(cfg["database_url"]) if cfg["kind"] == "registry" else bare_app()
    uvicorn.run(app, host=HOST, port=int(cfg["port"]), loop="uvloop", http="httptools", log_level="warning")


def http_server(kind: str, database_url: str, ready_path: str, token: str) -> Any:
    """This script's workers, started by bench_medical's launcher."""
    return bench_medical.http_server(kind, database_url, ready_path, token, script=__file__)

async def enrol(database_url: str, path: Path) -> list[str]:
    """Enrol the households of the file through the import; their ids."""
    await seed_org_units(database_url)
    app = registry_app(database_url)
    headers = {"Authorization": f"Bearer {mint_token('district_admin', None, [])}"}
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            with path.open("rb") as handle:
                started = await client.post(
                    "/registry/v1/imports", files={"file": ("seed.csv", handle, "text/csv")}, headers=headers
                )
            started.raise_for_status()
            while True:
                await asyncio.sleep(0.3)
                job = (await client.get(f"/registry/v1/imports/{started.json()['id']}", headers=headers)).json()
                if job["status"] != "running" and job["status"] != "queued":
                    break
    connection = await asyncpg.connect(plain_postgres_url(database_url))
    try:
        rows = await connection.fetch("SELECT id FROM registry.households ORDER BY id")
    finally:
        await connection.close()
    return [str(row["id"]) for row in rows]


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        server_worker(json.loads(args.worker))
        return {}
    from uplift.common.migrations import upgrade_all

    masked_token = mint_token("district_admin", None, [])
    unmasked_token = mint_token("district_admin", None, ["pii:read"])
    runs: dict[str, dict[str, Any]] = {}
    with database() as database_url:
        upgrade_all(database_url, ("registry",))
        folder = Path(tempfile.mkdtemp(prefix="uplift-bench-reads-"))
        path = folder / "households.csv"
        write_file(path, args.households)
        try:
            ids = asyncio.run(enrol(database_url, path))
        finally:
            path.unlink(missing_ok=True)
            folder.rmdir()

        def run_bare(label: str) -> None:
            with http_server("bare", database_url, "/bare", masked_token) as (port, pid):
                request = get_request("/bare", masked_token, port)
                runs[label] = uvloop.run(load(port, lambda: request, args.connections, 1.0, args.seconds, pid))

        run_bare("bare_before")
        with http_server("registry", database_url, "/registry/healthz", masked_token) as (port, pid):
            for label, token in (("masked", masked_token), ("unmasked", unmasked_token)):
                requests = [get_request(f"/registry/v1/households/{i}", token, port) for i in ids]
                cycle = itertools.cycle(requests)
                runs[label] = uvloop.run(load(port, lambda c=cycle: next(c), args.connections, 1.0, args.seconds, pid))
        run_bare("bare_after")
    bare = (runs["bare_before"]["requests_per_s"] + runs["bare_after"]["requests_per_s"]) / 2
    result = {
        "households": len(ids),
        "connections": args.connections,
        "bare_requests_per_s": round(bare),
        "masked": runs["masked"],
        "unmasked": runs["unmasked"],
        "masked_ratio_to_bare": round(runs["masked"]["requests_per_s"] / bare, 3) if bare else None,
        "unmasked_ratio_to_bare": round(runs["unmasked"]["requests_per_s"] / bare, 3) if bare else None,
        "bare_runs": [runs["bare_before"], runs["bare_after"]],
        "aim_ratio": 0.5,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
