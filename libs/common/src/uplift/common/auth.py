"""Who is calling and what they may touch: JWT verification, roles, org scope and the FastAPI dependencies.

Every service verifies the bearer token itself (signature, `exp`, `iss`, `aud`) with a `TokenVerifier` kept on
`app.state.token_verifier`, and routes ask for a `Principal`:

```python
from typing import Annotated
from fastapi import Depends
from uplift.common.auth import CurrentPrincipal, Principal, Role, ensure_in_scope, require

HouseholdWriter = Annotated[
    Principal,
    Depends(require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER,
                    perms=("registry:write",))),
]

@router.patch("/households/{household_id}")
async def update_household(household_id: UUID, principal: HouseholdWriter) -> HouseholdRead:
    household = await load(household_id)            # 404 when absent
    ensure_in_scope(principal, household.community_code)  # the same 404 when outside the caller's org
    ...
```

A role the operation is never open to is 403 (`require`); a resource outside the caller's org is 404
(`ensure_in_scope`), so scope never leaks existence. Development tokens come from `mint_token` or
`python -m uplift.common.auth mint --role district_admin --org 420102001`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from uplift.common.errors import Forbidden, NotFound, ServiceUnavailable, Unauthorized
from uplift.common.openapi import may_raise
from uplift.common.settings import DEV_AUDIENCE, DEV_ISSUER, DEV_JWT_SECRET

if TYPE_CHECKING:
    from uplift.common.settings import ServiceSettings

__all__ = [
    "DEPARTMENT_PREFIX",
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "DEV_JWT_SECRET",
    "DISTRICT_WIDE_ROLES",
    "PII_READ",
    "AuthConfig",
    "CurrentPrincipal",
    "Principal",
    "Role",
    "TokenVerifier",
    "ensure_in_scope",
    "get_principal",
    "main",
    "mint_token",
    "principal_from_claims",
    "require",
]


class Role(StrEnum):
    DISTRICT_ADMIN = "district_admin"
    STREET_OPERATOR = "street_operator"
    COMMUNITY_WORKER = "community_worker"
    CADRE = "cadre"
    DEPARTMENT_ADMIN = "department_admin"
    EMPLOYER = "employer"
    MEDICAL_OPERATOR = "medical_operator"
    ANALYST = "analyst"
    INTEGRATOR = "integrator"


# Roles whose work spans the whole district: a token of theirs without `org` covers every org unit.
DISTRICT_WIDE_ROLES: frozenset[str] = frozenset(
    {Role.DISTRICT_ADMIN, Role.ANALYST, Role.MEDICAL_OPERATOR, Role.INTEGRATOR}
)
PII_READ = "pii:read"
# A department's org code may carry this prefix, which keeps an all-digit department code (allowed: 2–16 of
# A–Z, 0–9, -) apart from a statistical division code.
DEPARTMENT_PREFIX = "department:"

_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
_EDDSA_ALGORITHMS = frozenset({"EdDSA"})
_SUPPORTED_ALGORITHMS = _HMAC_ALGORITHMS | _RSA_ALGORITHMS | _EC_ALGORITHMS | _EDDSA_ALGORITHMS
_MIN_SECRET_BYTES = 32


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class AuthConfig:
    """Where the verification keys come from and what the tokens must say.

    Any of `secret` (HS*), `public_key` (PEM; RS*/PS*, ES* or EdDSA by the key's type) and `jwks_url`
    (production, e.g. Keycloak's `.../protocol/openid-connect/certs`) may be set; each token is checked with
    the source that fits its `alg`, so an HMAC token is never checked against a public key. `algorithms`
    empty means: those the configured sources can verify.
    """

    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE
    secret: str | None = None
    public_key: str | None = None
    jwks_url: str | None = None
    algorithms: Sequence[str] = ()
    leeway_seconds: int = 30
    jwks_cache_seconds: float = 300.0

    def __post_init__(self) -> None:
        # An empty environment variable means "not configured" (e.g. UPLIFT_JWT_SECRET= to turn HMAC off).
        for source in ("secret", "public_key", "jwks_url"):
            if not getattr(self, source):
                object.__setattr__(self, source, None)
        if not (self.secret or self.public_key or self.jwks_url):
            raise ValueError("AuthConfig needs a secret, a public key or a JWKS URL")
        if self.secret is not None and len(self.secret.encode()) < _MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {_MIN_SECRET_BYTES} bytes long")
        unsupported = [alg for alg in self.algorithms if alg not in _SUPPORTED_ALGORITHMS]
        if unsupported:
            # This is also where `none` is refused.
            raise ValueError(f"unsupported JWT algorithms: {', '.join(unsupported)}")
        if self.leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        object.__setattr__(self, "algorithms", tuple(self.algorithms))

    @classmethod
    def development(cls) -> AuthConfig:
        """The shared development secret that `make run` and `mint_token` use."""
        return cls(secret=DEV_JWT_SECRET, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, algorithms=("HS256",))

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> AuthConfig:
        """Build the config from a service's settings (`UPLIFT_JWT_*`, `UPLIFT_JWKS_URL`)."""
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            secret=settings.jwt_secret or None,
            public_key=settings.jwt_public_key or None,
            jwks_url=settings.jwks_url or None,
            algorithms=tuple(settings.jwt_algorithms),
        )


# ------------------------------------------------------------------------------------------------ principal


def _is_division_code(code: str) -> bool:
    """District (6 digits), street (9), community (12) or a grid below it."""
    return code.isascii() and code.isdigit() and len(code) >= 6


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the token describes it."""

    sub: str
    roles: frozenset[str]
    org: str | None = None
    perms: frozenset[str] = field(default_factory=frozenset)
    cadre_id: str | None = None
    employer_id: str | None = None

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)

    def has_perm(self, perm: str) -> bool:
        return perm in self.perms

    def can_read_pii(self) -> bool:
        """May see unmasked names, ID numbers, phones and addresses (every such read is audited)."""
        return PII_READ in self.perms

    @property
    def is_integrator(self) -> bool:
        return Role.INTEGRATOR in self.roles

    @property
    def department_code(self) -> str | None:
        """The department this principal speaks for: `org` of a department admin, or a `department:` org."""
        if self.org is None:
            return None
        if self.org.startswith(DEPARTMENT_PREFIX):
            return self.org.removeprefix(DEPARTMENT_PREFIX)
        if Role.DEPARTMENT_ADMIN in self.roles:
            return self.org
        return None

    @property
    def division_code(self) -> str | None:
        """The district/street/community code this principal works in, if its org is one."""
        if self.org is None or self.department_code is not None or not _is_division_code(self.org):
            return None
        return self.org

    @property
    def is_district_wide(self) -> bool:
        """Covers every org unit of the district: a district-wide role with no org or with a district code."""
        if not self.has_role(*DISTRICT_WIDE_ROLES):
            return False
        return self.org is None or (self.division_code is not None and len(self.division_code) == 6)

    def in_scope(self, org_code: str | None) -> bool:
        """Whether a resource belonging to `org_code` lies inside this principal's org.

        A division code is covered by the principal's own division code and everything below it (a street
        operator of `420102001` covers `420102001` and `420102001007`); a department code only by that
        department's admin; a resource without an org code, like everything else, by district-wide principals.
        Cadres and employers are scoped by `cadre_id`/`employer_id`, which the owning service checks.
        Pass an all-digit department code as `department:<code>` so it is not read as a division code.
        """
        if self.is_district_wide:
            if self.org is None or org_code is None:
                return True
            if org_code.startswith(DEPARTMENT_PREFIX) or not _is_division_code(org_code):
                return True  # departments belong to the district as a whole
            return org_code.startswith(self.org)
        if org_code is None:
            return False
        if org_code.startswith(DEPARTMENT_PREFIX) or not _is_division_code(org_code):
            return self.department_code is not None and (
                org_code.removeprefix(DEPARTMENT_PREFIX) == self.department_code
            )
        return self.division_code is not None and org_code.startswith(self.division_code)


def ensure_in_scope(principal: Principal, org_code: str | None, *, detail: str | None = None) -> None:
    """Raise NotFound (404) when `org_code` is outside the principal's org; give it the same `detail` as the
    real not-found of the resource so the two answers cannot be told apart."""
    if not principal.in_scope(org_code):
        raise NotFound(detail)


# ------------------------------------------------------------------------------------------------- verifier


def _bad_token(detail: str) -> Unauthorized:
    # RFC 6750 §3.1: a presented but unusable token is `invalid_token`.
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _algorithms_for_public_key(key: object) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_ALGORITHMS
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return _EDDSA_ALGORITHMS
    raise ValueError(f"unsupported public key type {type(key).__name__}")


def _string_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _bad_token(f"The token's {name!r} claim must be a non-empty string.")
    return value


def _string_set_claim(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name)
    if value is None:
        return frozenset()
    if isinstance(value, str):  # OAuth-style space-separated list
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise _bad_token(f"The token's {name!r} claim must be a list of strings.")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Read a Principal from verified claims; roles fall back to Keycloak's `realm_access.roles`."""
    sub = _string_claim(claims, "sub")
    if sub is None:
        raise _bad_token("The token has no 'sub' claim.")
    roles = _string_set_claim(claims, "roles")
    realm_access = claims.get("realm_access")
    if not roles and isinstance(realm_access, dict):
        roles = _string_set_claim(realm_access, "roles")
    return Principal(
        sub=sub,
        roles=roles,
        org=_string_claim(claims, "org"),
        perms=_string_set_claim(claims, "perms"),
        cadre_id=_string_claim(claims, "cadre_id"),
        employer_id=_string_claim(claims, "employer_id"),
    )


class TokenVerifier:
    """Checks a bearer token and turns it into a Principal; raises Unauthorized (401) otherwise.

    The JWKS is fetched on first use, not here, and cached (`jwks_cache_seconds`); a token with an unknown
    `kid` triggers at most one refetch per 30 s, so a rotated key is picked up without restarting.
    A front end repeats one token on every request, so the last `cache_size` verified tokens are remembered
    until they expire: a repeat costs a dictionary lookup instead of a signature check (~75 µs for HS256).
    """

    def __init__(self, config: AuthConfig, *, cache_size: int = 2048) -> None:
        self.config = config
        self._cache_size = cache_size
        # token -> (principal, the moment it stops being accepted: exp + leeway)
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._public_key: Any = None
        self._public_key_algorithms: frozenset[str] = frozenset()
        if config.public_key:
            self._public_key = load_pem_public_key(config.public_key.encode())
            self._public_key_algorithms = _algorithms_for_public_key(self._public_key)
        self._algorithms = frozenset(config.algorithms or self._algorithms_of_sources())
        self._jwks_client: jwt.PyJWKClient | None = None

    def _algorithms_of_sources(self) -> frozenset[str]:
        algorithms: set[str] = set()
        if self.config.secret:
            algorithms |= _HMAC_ALGORITHMS
        algorithms |= self._public_key_algorithms
        if self.config.jwks_url:
            algorithms |= _RSA_ALGORITHMS | _EC_ALGORITHMS | _EDDSA_ALGORITHMS
        return frozenset(algorithms)

    @property
    def may_block(self) -> bool:
        """True when verifying may fetch the JWKS over the network (run it off the event loop)."""
        return self.config.jwks_url is not None

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    def _jwks(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            assert self.config.jwks_url is not None
            self._jwks_client = jwt.PyJWKClient(
                self.config.jwks_url, cache_jwk_set=True, lifespan=self.config.jwks_cache_seconds, timeout=10
            )
        return self._jwks_client

    def _key_for(self, alg: str, header: Mapping[str, Any]) -> Any:
        if alg in _HMAC_ALGORITHMS:
            if not self.config.secret:
                raise _bad_token(f"Tokens signed with {alg} are not accepted here.")
            return self.config.secret
        if alg in self._public_key_algorithms:
            return self._public_key
        if self.config.jwks_url:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise _bad_token("The token header has no 'kid' to find its signing key by.")
            try:
                return self._jwks().get_signing_key(kid)
            except jwt.PyJWKClientConnectionError as exc:
                raise ServiceUnavailable("The identity provider's signing keys cannot be fetched.") from exc
            except jwt.PyJWKSetError as exc:
                raise ServiceUnavailable("The identity provider published no usable signing keys.") from exc
            except jwt.PyJWKClientError as exc:
                raise _bad_token(f"The token's signing key {kid!r} is not known.") from exc
        raise _bad_token(f"No key is configured for tokens signed with {alg}.")

    def cached_principal(self, token: str) -> Principal | None:
        """The Principal of a token verified earlier and not expired since, without any check or I/O."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        principal, valid_until = entry
        if time.time() >= valid_until:
            self._verified.pop(token, None)
            return None
        return principal

    def _remember(self, token: str, principal: Principal, expires_at: Any) -> None:
        if self._cache_size <= 0 or not isinstance(expires_at, int | float):
            return
        while len(self._verified) >= self._cache_size:
            try:
                self._verified.pop(next(iter(self._verified)), None)
            except (StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
                break
        self._verified[token] = (principal, float(expires_at) + self.config.leeway_seconds)

    def verify(self, token: str) -> Principal:
        """Verify signature, `exp`, `iss` and `aud` (with `leeway_seconds`) and read the Principal."""
        cached = self.cached_principal(token)
        if cached is not None:
            return cached
        if not token or token.count(".") != 2:
            raise _bad_token("The bearer token is not a JWT.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise _bad_token("The bearer token is malformed.") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            accepted = ", ".join(sorted(self._algorithms))
            raise _bad_token(f"The token algorithm {alg!r} is not accepted (accepted: {accepted}).")
        key = self._key_for(alg, header)
        config = self.config
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"], "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _bad_token("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _bad_token("The token is not valid yet.") from exc
        except jwt.InvalidSignatureError as exc:
            raise _bad_token("The token signature is invalid.") from exc
        except jwt.InvalidAudienceError as exc:
            raise _bad_token(f"The token is not meant for audience {config.audience!r}.") from exc
        except jwt.InvalidIssuerError as exc:
            raise _bad_token(f"The token was not issued by {config.issuer!r}.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _bad_token(f"The token has no {exc.claim!r} claim.") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise _bad_token("The token algorithm does not match its signing key.") from exc
        except jwt.InvalidTokenError as exc:
            raise _bad_token(f"The token is invalid: {exc}.") from exc
        principal = principal_from_claims(claims)
        self._remember(token, principal, claims.get("exp"))
        return principal


# ----------------------------------------------------------------------------------------------- dependencies

# Declared so OpenAPI shows the bearer scheme; the header itself is read below for precise 401 details.
_bearer_scheme = HTTPBearer(auto_error=False, description="An access token (JWT) from the identity provider.")


@may_raise(401, 503)  # 503: the identity provider's signing keys cannot be fetched
async def get_principal(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(_bearer_scheme)
) -> Principal:
    """The caller of this request; 401 when the `Authorization: Bearer` token is missing or unusable."""
    return await principal_of(request)


async def principal_of(request: Request) -> Principal:
    """Read and verify the request's bearer token (the body of `get_principal`, callable without FastAPI)."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise Unauthorized("An 'Authorization: Bearer <token>' header is required.")
    scheme, _sep, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _bad_token("The Authorization header must be 'Bearer <token>'.")
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("app.state.token_verifier is not set")
    token = token.strip()
    cached = verifier.cached_principal(token)
    if cached is not None:
        return cached
    if verifier.may_block:  # a JWKS fetch must not stall the event loop
        return await run_in_threadpool(verifier.verify, token)
    return verifier.verify(token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
"""Any authenticated caller: `async def route(principal: CurrentPrincipal)`."""


def require(
    *roles: str, perms: Sequence[str] = (), any_of_perms: Sequence[str] = ()
) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting the holders of any of `roles`, and integrators holding all of `perms` and at
    least one of `any_of_perms`; everyone else gets 403. Listing `Role.INTEGRATOR` in `roles` admits every
    integrator. Use it through an alias: `Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN))]`.
    """
    if not roles and not perms and not any_of_perms:
        raise ValueError("require() needs at least one role or permission")
    role_set = frozenset(roles)
    needed_perms = frozenset(perms)
    alternative_perms = frozenset(any_of_perms)

    def integrator_allowed(principal: Principal) -> bool:
        if not (needed_perms or alternative_perms) or not principal.is_integrator:
            return False
        has_all = needed_perms <= principal.perms
        has_one = not alternative_perms or not alternative_perms.isdisjoint(principal.perms)
        return has_all and has_one

    wanted = []
    if role_set:
        wanted.append("one of the roles " + ", ".join(sorted(role_set)))
    if needed_perms or alternative_perms:
        grants = [" and ".join(sorted(needed_perms))] if needed_perms else []
        if alternative_perms:
            grants.append("one of " + ", ".join(sorted(alternative_perms)))
        wanted.append("an integrator with " + " and ".join(grants))
    forbidden_detail = "This operation needs " + " or ".join(wanted) + "."

    # One flat dependency (not require -> get_principal -> bearer): FastAPI's per-request cost grows with depth.
    @may_raise(401, 403, 503)
    async def require_role(
        request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(_bearer_scheme)
    ) -> Principal:
        principal = await principal_of(request)
        if principal.has_role(*role_set) or integrator_allowed(principal):
            return principal
        raise Forbidden(forbidden_detail)

    return require_role


# ---------------------------------------------------------------------------------------------- dev tokens


def mint_token(
    role: str,
    org: str | None = None,
    perms: Sequence[str] = (),
    *,
    ttl_seconds: int = 8 * 3600,
    secret: str = DEV_JWT_SECRET,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    **extra_claims: Any,
) -> str:
    """An HS256 token for development and tests; `extra_claims` (`cadre_id`, `sub`, ...) go in as given."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": f"dev-{role}-{uuid.uuid4().hex[:8]}",
        "roles": [str(role)],
        "perms": list(perms),
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if org is not None:
        claims["org"] = org
    claims.update({name: value for name, value in extra_claims.items() if value is not None})
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m uplift.common.auth mint --role R [--org CODE] [--perm P ...] ...` prints a token."""
    parser = argparse.ArgumentParser(prog="python -m uplift.common.auth", description="Uplift auth tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    mint = commands.add_parser(
        "mint",
        help="print a development token",
        description="Sign with UPLIFT_JWT_SECRET/_ISSUER/_AUDIENCE when set, else the development defaults.",
    )
    mint.add_argument("--role", required=True, choices=[role.value for role in Role])
    mint.add_argument("--org", help="org code: district, street or community code, or a department code")
    mint.add_argument("--perm", action="append", default=[], help="a permission, e.g. pii:read (repeatable)")
    mint.add_argument("--cadre-id")
    mint.add_argument("--employer-id")
    mint.add_argument("--sub", help="subject (default: dev-<role>-<random>)")
    mint.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds (default 8 h)")
    args = parser.parse_args(argv)

    extra: dict[str, Any] = {"cadre_id": args.cadre_id, "employer_id": args.employer_id, "sub": args.sub}
    token = mint_token(
        args.role,
        args.org,
        args.perm,
        ttl_seconds=args.ttl,
        secret=os.environ.get("UPLIFT_JWT_SECRET") or DEV_JWT_SECRET,
        issuer=os.environ.get("UPLIFT_JWT_ISSUER") or DEV_ISSUER,
        audience=os.environ.get("UPLIFT_JWT_AUDIENCE") or DEV_AUDIENCE,
        **extra,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
