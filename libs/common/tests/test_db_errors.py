"""Which errors mean 'the database is unavailable' (503, retry, never a dead letter) and which do not."""

from __future__ import annotations

import asyncpg
import sqlalchemy as sa

from uplift.common.db import is_infrastructure_error, is_schema_behind_code


def _wrapped(orig: BaseException) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError("SELECT 1", {}, orig)


def test_lost_refused_and_shutting_down_connections_are_infrastructure() -> None:
    assert is_infrastructure_error(ConnectionRefusedError(111, "refused"))
    assert is_infrastructure_error(asyncpg.ConnectionDoesNotExistError("closed"))
    assert is_infrastructure_error(_wrapped(asyncpg.CannotConnectNowError("the database system is starting up")))
    assert is_infrastructure_error(_wrapped(asyncpg.AdminShutdownError("terminating connection")))


def test_errors_of_the_request_or_the_handler_are_not() -> None:
    assert not is_infrastructure_error(ValueError("bad input"))
    assert not is_infrastructure_error(_wrapped(asyncpg.UniqueViolationError("duplicate key")))
    assert not is_infrastructure_error(_wrapped(asyncpg.DeadlockDetectedError("deadlock")))


def test_a_missing_table_or_column_means_the_code_runs_ahead_of_its_migration() -> None:
    assert is_schema_behind_code(_wrapped(asyncpg.UndefinedTableError('relation "m.t" does not exist')))
    assert is_schema_behind_code(_wrapped(asyncpg.UndefinedColumnError('column "c" does not exist')))
    assert not is_schema_behind_code(_wrapped(asyncpg.UniqueViolationError("duplicate key")))
    assert not is_schema_behind_code(ValueError("bad input"))
    assert not is_infrastructure_error(_wrapped(asyncpg.UndefinedTableError("missing")))  # HTTP keeps its 500
