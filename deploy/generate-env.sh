#!/bin/sh
# Make .env for docker compose from .env.example, filling every empty secret with fresh random bytes:
# database passwords and the JWT secret as hex (URL-safe), the PII and lookup keys as base64 of 32 bytes.
# Refuses to overwrite an existing .env: its keys protect data already stored.
set -eu
cd "$(dirname "$0")/.."

if [ -e .env ]; then
    echo ".env already exists; not overwriting it (its keys protect the data already stored)" >&2
    exit 1
fi

umask 077
tmp=".env.tmp.$$"
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        POSTGRES_PASSWORD= | *_DB_PASSWORD=) printf '%s%s\n' "$line" "$(openssl rand -hex 24)" ;;
        UPLIFT_JWT_SECRET=) printf '%s%s\n' "$line" "$(openssl rand -hex 32)" ;;
        UPLIFT_PII_KEY= | UPLIFT_LOOKUP_KEY=) printf '%s%s\n' "$line" "$(openssl rand -base64 32)" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < .env.example > "$tmp"
mv "$tmp" .env
echo "wrote .env (mode 600); keep a copy of UPLIFT_PII_KEY and UPLIFT_LOOKUP_KEY somewhere safe" >&2
