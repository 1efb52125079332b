"""JWT verification, org scope, the FastAPI dependencies and the development-token CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from uplift.common import auth as auth_module
from uplift.common.auth import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DEV_JWT_SECRET,
    AuthConfig,
    CurrentPrincipal,
    Principal,
    Role,
    TokenVerifier,
    ensure_in_scope,
    main,
    mint_token,
    require,
)
from uplift.common.errors import NotFound, ServiceUnavailable, Unauthorized, install_problem_handlers
from uplift.common.settings import load_settings

OTHER_SECRET = "another-secret-that-is-long-enough-0123456789"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-1",
        "roles": ["street_operator"],
        "org": "420102001",
        "perms": [],
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(payload: dict[str, Any], alg: str = "none") -> str:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}."


def unauthorized_detail(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    assert caught.value.status == 401
    return caught.value.detail


@pytest.fixture
def dev_verifier() -> TokenVerifier:
    return TokenVerifier(AuthConfig.development())


# --------------------------------------------------------------------------------------------- HS256


def test_a_minted_development_token_verifies_into_its_principal(dev_verifier: TokenVerifier) -> None:
    token = mint_token(Role.CADRE, "420102001", ["pii:read"], cadre_id="c-17", sub="cadre-li")
    principal = dev_verifier.verify(token)
    assert principal == Principal(
        sub="cadre-li",
        roles=frozenset({"cadre"}),
        org="420102001",
        perms=frozenset({"pii:read"}),
        cadre_id="c-17",
        employer_id=None,
    )
    assert principal.can_read_pii()
    assert principal.has_role(Role.CADRE, Role.EMPLOYER)
    assert not principal.has_role(Role.EMPLOYER)


def test_minted_tokens_expire_after_their_ttl_and_carry_the_dev_issuer() -> None:
    before = int(time.time())
    token = mint_token("district_admin", ttl_seconds=3600, employer_id=None)
    payload = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"], audience=DEV_AUDIENCE)
    assert payload["iss"] == "uplift-dev"
    assert payload["aud"] == "uplift"
    assert before + 3600 <= payload["exp"] <= int(time.time()) + 3600
    assert "org" not in payload
    assert "employer_id" not in payload
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_an_expired_token_is_refused(dev_verifier: TokenVerifier) -> None:
    token = mint_token("district_admin", ttl_seconds=-120)
    assert unauthorized_detail(dev_verifier, token) == "The token has expired."


def test_an_expiry_within_the_leeway_is_tolerated(dev_verifier: TokenVerifier) -> None:
    token = mint_token("district_admin", ttl_seconds=-10)
    assert dev_verifier.verify(token).roles == {"district_admin"}


def test_a_token_not_valid_yet_is_refused(dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 600), DEV_JWT_SECRET, algorithm="HS256")
    assert unauthorized_detail(dev_verifier, token) == "The token is not valid yet."


def test_a_token_signed_with_another_secret_is_refused(dev_verifier: TokenVerifier) -> None:
    token = mint_token("district_admin", secret=OTHER_SECRET)
    assert unauthorized_detail(dev_verifier, token) == "The token signature is invalid."


def test_a_token_with_a_changed_payload_is_refused(dev_verifier: TokenVerifier) -> None:
    header, _payload, signature = mint_token("street_operator", "420102001").split(".")
    forged_payload = b64url(json.dumps(claims(roles=["district_admin"])).encode())
    assert unauthorized_detail(dev_verifier, f"{header}.{forged_payload}.{signature}") == (
        "The token signature is invalid."
    )


def test_a_token_for_another_audience_is_refused(dev_verifier: TokenVerifier) -> None:
    token = mint_token("district_admin", audience="someone-else")
    assert unauthorized_detail(dev_verifier, token) == "The token is not meant for audience 'uplift'."


def test_a_token_from_another_issuer_is_refused(dev_verifier: TokenVerifier) -> None:
    token = mint_token("district_admin", issuer="https://evil.example")
    assert unauthorized_detail(dev_verifier, token) == "The token was not issued by 'uplift-dev'."


def test_an_unsigned_alg_none_token_is_refused(dev_verifier: TokenVerifier) -> None:
    token = unsigned_token(claims(roles=["district_admin"]))
    detail = unauthorized_detail(dev_verifier, token)
    assert detail == "The token algorithm 'none' is not accepted (accepted: HS256)."


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("", "The bearer token is not a JWT."),
        ("not-a-token", "The bearer token is not a JWT."),
        ("a.b.c", "The bearer token is malformed."),
        ("a.b.c.d", "The bearer token is not a JWT."),
    ],
)
def test_malformed_tokens_are_refused(dev_verifier: TokenVerifier, token: str, detail: str) -> None:
    assert unauthorized_detail(dev_verifier, token) == detail


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"sub": None}, "The token has no 'sub' claim."),
        ({"exp": None}, "The token has no 'exp' claim."),
        ({"iss": None}, "The token has no 'iss' claim."),
        ({"roles": 7}, "The token's 'roles' claim must be a list of strings."),
        ({"perms": ["pii:read", 3]}, "The token's 'perms' claim must be a list of strings."),
        ({"org": 420102001}, "The token's 'org' claim must be a non-empty string."),
        ({"sub": ""}, "The token's 'sub' claim must be a non-empty string."),
    ],
)
def test_tokens_with_missing_or_mistyped_claims_are_refused(
    dev_verifier: TokenVerifier, overrides: dict[str, Any], detail: str
) -> None:
    token = jwt.encode(claims(**overrides), DEV_JWT_SECRET, algorithm="HS256")
    assert unauthorized_detail(dev_verifier, token) == detail


def test_perms_may_be_a_space_separated_scope_string_and_roles_may_come_from_keycloak(
    dev_verifier: TokenVerifier,
) -> None:
    token = jwt.encode(
        claims(
            roles=None, org=None, perms="registry:read claims:write", realm_access={"roles": ["integrator"]}
        ),
        DEV_JWT_SECRET,
        algorithm="HS256",
    )
    principal = dev_verifier.verify(token)
    assert principal.roles == {"integrator"}
    assert principal.perms == {"registry:read", "claims:write"}
    assert principal.org is None
    assert not principal.can_read_pii()


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(AuthConfig.development())
    token = mint_token("street_operator", STREET, ttl_seconds=600)
    assert verifier.cached_principal(token) is None
    first = verifier.verify(token)
    assert verifier.cached_principal(token) is first
    assert verifier.verify(token) is first

    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(auth_module.time, "time", lambda: expires_at + 31.0)  # past exp + 30 s leeway
    assert verifier.cached_principal(token) is None


def test_the_token_cache_is_bounded_and_can_be_switched_off() -> None:
    verifier = TokenVerifier(AuthConfig.development(), cache_size=2)
    tokens = [mint_token("analyst", sub=f"a-{n}") for n in range(3)]
    for token in tokens:
        verifier.verify(token)
    assert verifier.cached_principal(tokens[0]) is None
    assert [verifier.cached_principal(token).sub for token in tokens[1:]] == ["a-1", "a-2"]  # type: ignore[union-attr]

    uncached = TokenVerifier(AuthConfig.development(), cache_size=0)
    uncached.verify(tokens[0])
    assert uncached.cached_principal(tokens[0]) is None


def test_invalid_configurations_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="needs a secret, a public key or a JWKS URL"):
        AuthConfig()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AuthConfig(secret="short")
    with pytest.raises(ValueError, match="unsupported JWT algorithms: none"):
        AuthConfig(secret=DEV_JWT_SECRET, algorithms=["HS256", "none"])
    # An empty variable turns a source off rather than counting as a (too short) secret.
    assert AuthConfig(secret="", jwks_url="https://idp/certs", public_key="").secret is None


# ------------------------------------------------------------------------------------ RS256 and ES256


def test_rs256_tokens_verify_with_a_pem_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(AuthConfig(public_key=public_pem(rsa_key)))
    principal = verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256"))
    assert (principal.sub, principal.org) == ("user-1", "420102001")
    assert "RS256" in verifier.algorithms
    assert "HS256" not in verifier.algorithms


def test_es256_tokens_verify_with_a_pem_public_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    verifier = TokenVerifier(AuthConfig(public_key=public_pem(ec_key), algorithms=["ES256"]))
    principal = verifier.verify(jwt.encode(claims(roles=["medical_operator"]), ec_key, algorithm="ES256"))
    assert principal.roles == {"medical_operator"}


def test_a_token_signed_by_another_rsa_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = TokenVerifier(AuthConfig(public_key=public_pem(rsa_key)))
    token = jwt.encode(claims(), intruder, algorithm="RS256")
    assert unauthorized_detail(verifier, token) == "The token signature is invalid."


def test_an_hmac_token_keyed_with_the_public_pem_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    # The classic algorithm confusion: HS256 "signed" with the public key as the HMAC secret.
    pem = public_pem(rsa_key)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(roles=["district_admin"])).encode())
    signature = b64url(hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    token = f"{header}.{payload}.{signature}"

    only_public = TokenVerifier(AuthConfig(public_key=pem))
    assert unauthorized_detail(only_public, token).startswith("The token algorithm 'HS256' is not accepted")
    listed_but_keyless = TokenVerifier(AuthConfig(public_key=pem, algorithms=["HS256", "RS256", "ES256"]))
    assert unauthorized_detail(listed_but_keyless, token) == "Tokens signed with HS256 are not accepted here."


def test_an_es256_token_against_an_rsa_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = TokenVerifier(AuthConfig(public_key=public_pem(rsa_key), algorithms=["RS256", "ES256"]))
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert unauthorized_detail(verifier, token) == "No key is configured for tokens signed with ES256."


def test_the_config_from_settings_accepts_both_the_dev_secret_and_the_pem(rsa_key: rsa.RSAPrivateKey) -> None:
    settings = load_settings(
        "registry", jwt_secret=DEV_JWT_SECRET, jwt_public_key=public_pem(rsa_key), jwks_url=None
    )
    verifier = TokenVerifier(AuthConfig.from_settings(settings))
    assert verifier.verify(mint_token("analyst")).roles == {"analyst"}
    assert verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256")).sub == "user-1"


# ---------------------------------------------------------------------------------------------- JWKS


@dataclass
class JwksServer:
    url: str
    keys: list[dict[str, Any]]
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def jwks_server(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> Iterator[JwksServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    rsa_jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True) | {"kid": "rsa-1", "use": "sig"}
    ec_jwk = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True) | {"kid": "ec-1", "use": "sig"}
    state = JwksServer(url="", keys=[rsa_jwk, ec_jwk])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/realms/uplift/protocol/openid-connect/certs"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_jwks_keys_are_fetched_lazily_once_and_verify_rs256_and_es256(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = TokenVerifier(AuthConfig(jwks_url=jwks_server.url, issuer="https://idp", audience="uplift"))
    assert jwks_server.requests == []  # no network in the constructor
    assert verifier.may_block

    rs_token = jwt.encode(
        claims(iss="https://idp", sub="svc-a"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}
    )
    es_token = jwt.encode(
        claims(iss="https://idp", sub="svc-b"), ec_key, algorithm="ES256", headers={"kid": "ec-1"}
    )
    assert verifier.verify(rs_token).sub == "svc-a"
    assert verifier.verify(es_token).sub == "svc-b"
    assert verifier.verify(rs_token).sub == "svc-a"
    assert jwks_server.requests == ["/realms/uplift/protocol/openid-connect/certs"]


def test_jwks_refuses_unknown_missing_and_mismatched_key_ids(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = TokenVerifier(AuthConfig(jwks_url=jwks_server.url))
    unknown = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rotated-away"})
    assert unauthorized_detail(verifier, unknown) == "The token's signing key 'rotated-away' is not known."

    kidless = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert (
        unauthorized_detail(verifier, kidless) == "The token header has no 'kid' to find its signing key by."
    )

    # Signed with the EC key but naming the RSA key: the key's own algorithm wins.
    mismatched = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "rsa-1"})
    assert unauthorized_detail(verifier, mismatched) == "The token algorithm does not match its signing key."

    forged = jwt.encode(
        claims(), rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": "rsa-1"}
    )
    assert unauthorized_detail(verifier, forged) == "The token signature is invalid."


def test_an_unreachable_jwks_is_service_unavailable_not_a_bad_token(rsa_key: rsa.RSAPrivateKey) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    verifier = TokenVerifier(AuthConfig(jwks_url=f"http://127.0.0.1:{closed_port}/certs"))
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(ServiceUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.status == 503


# ------------------------------------------------------------------------------------------- org scope

STREET = "420102001"
COMMUNITY = "420102001007"
OTHER_STREET_COMMUNITY = "420102002001"


def principal(role: str, org: str | None = None, *perms: str) -> Principal:
    return Principal(sub="p", roles=frozenset({role}), org=org, perms=frozenset(perms))


@pytest.mark.parametrize(
    ("who", "org_code", "covered"),
    [
        (principal("street_operator", STREET), STREET, True),
        (principal("street_operator", STREET), COMMUNITY, True),
        (principal("street_operator", STREET), OTHER_STREET_COMMUNITY, False),
        (principal("street_operator", STREET), "420102", False),
        (principal("street_operator", STREET), "4201020010", True),  # a grid below the street
        (principal("street_operator", STREET), None, False),
        (principal("street_operator", STREET), "D042", False),
        (principal("street_operator", None), STREET, False),
        (principal("community_worker", COMMUNITY), COMMUNITY, True),
        (principal("community_worker", COMMUNITY), "420102001008", False),
        (principal("community_worker", COMMUNITY), STREET, False),
        (principal("district_admin", None), OTHER_STREET_COMMUNITY, True),
        (principal("district_admin", None), None, True),
        (principal("district_admin", None), "department:D042", True),
        (principal("district_admin", "420102"), OTHER_STREET_COMMUNITY, True),
        (principal("district_admin", "420102"), "430102001001", False),
        (principal("district_admin", "420102"), "D042", True),
        (principal("district_admin", "420102"), None, True),
        (principal("analyst", None), COMMUNITY, True),
        (principal("medical_operator", None), COMMUNITY, True),
        (principal("integrator", None, "registry:read"), COMMUNITY, True),
        (principal("analyst", STREET), COMMUNITY, True),
        (principal("analyst", STREET), OTHER_STREET_COMMUNITY, False),
        (principal("analyst", STREET), None, False),
        (principal("cadre", None), COMMUNITY, False),
        (principal("employer", None), None, False),
        (principal("department_admin", "D042"), "D042", True),
        (principal("department_admin", "D042"), "department:D042", True),
        (principal("department_admin", "D042"), "D043", False),
        (principal("department_admin", "D042"), STREET, False),
        (principal("department_admin", "D042"), None, False),
        (principal("department_admin", "department:123456"), "department:123456", True),
        (principal("department_admin", "department:123456"), "123456001", False),
    ],
)
def test_org_scope(who: Principal, org_code: str | None, covered: bool) -> None:
    assert who.in_scope(org_code) is covered


def test_department_and_division_codes_are_told_apart() -> None:
    assert principal("department_admin", "D042").department_code == "D042"
    assert principal("department_admin", "department:D042").department_code == "D042"
    assert principal("department_admin", "123456").department_code == "123456"
    assert principal("department_admin", "123456").division_code is None
    assert principal("street_operator", STREET).department_code is None
    assert principal("street_operator", STREET).division_code == STREET
    assert principal("district_admin", None).is_district_wide
    assert principal("district_admin", "420102").is_district_wide
    assert not principal("district_admin", STREET).is_district_wide
    assert not principal("street_operator", "420102").is_district_wide


def test_ensure_in_scope_answers_out_of_scope_with_not_found() -> None:
    ensure_in_scope(principal("street_operator", STREET), COMMUNITY)
    with pytest.raises(NotFound) as caught:
        ensure_in_scope(
            principal("street_operator", STREET), OTHER_STREET_COMMUNITY, detail="Household not found."
        )
    assert (caught.value.status, caught.value.detail) == (404, "Household not found.")


# ------------------------------------------------------------------------------------ FastAPI dependencies

ABSENT_COMMUNITY = "420102001999"

RegistryReader = Annotated[
    Principal, Depends(require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, perms=("registry:read",)))
]
ClaimsReader = Annotated[
    Principal, Depends(require(Role.MEDICAL_OPERATOR, any_of_perms=("claims:read", "claims:write")))
]


def build_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = verifier
    install_problem_handlers(app)

    @app.get("/me")
    async def me(caller: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": caller.sub, "roles": sorted(caller.roles), "org": caller.org}

    @app.get("/households/{community_code}")
    async def household(community_code: str, caller: RegistryReader) -> dict[str, str]:
        if community_code == ABSENT_COMMUNITY:
            raise NotFound("Household not found.")
        ensure_in_scope(caller, community_code, detail="Household not found.")
        return {"community_code": community_code}

    @app.get("/claims")
    async def list_claims(caller: ClaimsReader) -> dict[str, str]:
        return {"caller": caller.sub}

    return app


async def call(app: FastAPI, path: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://uplift.test") as client:
        return await client.get(path, headers=headers)


@pytest.fixture
def app(dev_verifier: TokenVerifier) -> FastAPI:
    return build_app(dev_verifier)


async def test_a_valid_token_reaches_the_route(app: FastAPI) -> None:
    response = await call(app, "/me", mint_token("street_operator", STREET, sub="op-7"))
    assert response.status_code == 200
    assert response.json() == {"sub": "op-7", "roles": ["street_operator"], "org": STREET}


async def test_a_missing_authorization_header_is_401_problem(app: FastAPI) -> None:
    response = await call(app, "/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401
    assert body["detail"] == "An 'Authorization: Bearer <token>' header is required."


async def test_another_authorization_scheme_is_401(app: FastAPI) -> None:
    response = await call(app, "/me", Authorization="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["detail"] == "The Authorization header must be 'Bearer <token>'."


async def test_an_expired_token_is_401_over_http(app: FastAPI) -> None:
    response = await call(app, "/me", mint_token("district_admin", ttl_seconds=-3600))
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."


async def test_a_role_the_operation_is_not_open_to_is_403(app: FastAPI) -> None:
    response = await call(app, f"/households/{COMMUNITY}", mint_token("cadre", STREET, cadre_id="c-1"))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "This operation needs one of the roles district_admin, street_operator "
        "or an integrator with registry:read."
    )


async def test_an_allowed_role_inside_its_org_gets_200(app: FastAPI) -> None:
    response = await call(app, f"/households/{COMMUNITY}", mint_token("street_operator", STREET))
    assert response.status_code == 200
    assert response.json() == {"community_code": COMMUNITY}


async def test_out_of_scope_is_indistinguishable_from_absent(app: FastAPI) -> None:
    token = mint_token("street_operator", STREET)
    out_of_scope = await call(app, f"/households/{OTHER_STREET_COMMUNITY}", token)
    absent = await call(app, f"/households/{ABSENT_COMMUNITY}", token)
    assert out_of_scope.status_code == absent.status_code == 404
    strip_instance = {"instance": None}
    assert out_of_scope.json() | strip_instance == absent.json() | strip_instance


async def test_integrators_pass_by_their_perms(app: FastAPI) -> None:
    reader = mint_token("integrator", perms=["registry:read"])
    assert (await call(app, f"/households/{COMMUNITY}", reader)).status_code == 200
    matcher = mint_token("integrator", perms=["matching:read"])
    assert (await call(app, f"/households/{COMMUNITY}", matcher)).status_code == 403

    claims_writer = mint_token("integrator", perms=["claims:write"])
    assert (await call(app, "/claims", claims_writer)).status_code == 200
    assert (await call(app, "/claims", reader)).status_code == 403
    assert (await call(app, "/claims", mint_token("medical_operator"))).status_code == 200


async def test_perms_do_not_open_a_route_to_a_non_integrator(app: FastAPI) -> None:
    response = await call(app, "/claims", mint_token("street_operator", STREET, perms=["claims:read"]))
    assert response.status_code == 403


def test_require_needs_a_role_or_a_perm() -> None:
    with pytest.raises(ValueError, match="at least one role or permission"):
        require()


def test_the_openapi_document_declares_the_bearer_scheme(app: FastAPI) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token (JWT) from the identity provider.",
    }
    assert document["paths"]["/claims"]["get"]["security"] == [{"HTTPBearer": []}]


async def test_jwks_verification_works_through_the_dependency(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    app = build_app(TokenVerifier(AuthConfig(jwks_url=jwks_server.url)))
    token = jwt.encode(claims(sub="kc-user"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    response = await call(app, "/me", token)
    assert response.status_code == 200
    assert response.json()["sub"] == "kc-user"


# ----------------------------------------------------------------------------------------------- the CLI


def run_mint(*args: str) -> str:
    # sys.executable is the workspace interpreter that `uv run python` resolves to.
    clean_env = {name: value for name, value in os.environ.items() if not name.startswith("UPLIFT_JWT_")}
    result = subprocess.run(
        [sys.executable, "-m", "uplift.common.auth", "mint", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=clean_env,
    )
    return result.stdout.strip()


def test_the_mint_cli_prints_a_token_the_dev_verifier_accepts(dev_verifier: TokenVerifier) -> None:
    token = run_mint(
        "--role", "district_admin", "--org", "420102", "--perm", "pii:read", "--perm", "registry:write"
    )
    principal = dev_verifier.verify(token)
    assert principal.roles == {"district_admin"}
    assert principal.org == "420102"
    assert principal.perms == {"pii:read", "registry:write"}
    assert principal.sub.startswith("dev-district_admin-")


def test_the_mint_cli_uses_the_configured_secret_issuer_and_audience(
    dev_verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPLIFT_JWT_SECRET", OTHER_SECRET)
    monkeypatch.setenv("UPLIFT_JWT_ISSUER", "https://idp")
    monkeypatch.setenv("UPLIFT_JWT_AUDIENCE", "api")
    assert main(["mint", "--role", "employer", "--employer-id", "e-9", "--ttl", "60", "--sub", "acme"]) == 0
    token = capsys.readouterr().out.strip()

    configured = TokenVerifier(AuthConfig(secret=OTHER_SECRET, issuer="https://idp", audience="api"))
    principal = configured.verify(token)
    assert (principal.sub, principal.roles, principal.employer_id) == ("acme", {"employer"}, "e-9")
    assert unauthorized_detail(dev_verifier, token) == "The token signature is invalid."


def test_the_mint_cli_refuses_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["mint", "--role", "superuser"])
    assert caught.value.code == 2
    assert "invalid choice: 'superuser'" in capsys.readouterr().err
