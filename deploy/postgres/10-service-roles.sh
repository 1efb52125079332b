#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory (docker-entrypoint-initdb.d);
# changing the passwords in .env later does not change them here (see docs/operations.md).
#
# One database (POSTGRES_DB, "uplift") and one login role per service. Each role owns the schema of the same
# name, so its migrations create their tables (and Alembic's version table) there, and it has no rights on any
# other service's schema: no service can read another's tables, even by mistake.
#
# Expects POSTGRES_USER, POSTGRES_DB and <SERVICE>_DB_PASSWORD for registry, matching, medical and metrics.
# Passwords are used inside database URLs: keep them URL-safe (docs/operations.md generates them with
# `openssl rand -hex 24`).
set -eu

run_psql() {
    psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

# Nobody but the owner and the service roles may connect, and nobody may create objects in `public`.
run_psql --set=db="$POSTGRES_DB" <<'EOSQL'
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
EOSQL

create_service_role() {
    service="$1"
    password="$2"
    run_psql --set=db="$POSTGRES_DB" --set=service="$service" --set=password="$password" <<'EOSQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"service";
CREATE SCHEMA :"service" AUTHORIZATION :"service";
ALTER ROLE :"service" IN DATABASE :"db" SET search_path = :"service";
EOSQL
}

create_service_role registry "${REGISTRY_DB_PASSWORD:?REGISTRY_DB_PASSWORD is not set}"
create_service_role matching "${MATCHING_DB_PASSWORD:?MATCHING_DB_PASSWORD is not set}"
create_service_role medical "${MEDICAL_DB_PASSWORD:?MEDICAL_DB_PASSWORD is not set}"
create_service_role metrics "${METRICS_DB_PASSWORD:?METRICS_DB_PASSWORD is not set}"
