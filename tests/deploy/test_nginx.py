"""The compose gateway (deploy/nginx/nginx.conf) routes each service's prefix to that service, unchanged.

There is no nginx here, so the file is parsed with a compact reader of nginx's block syntax and requests are
routed with nginx's location rules (exact `=`, then the longest prefix, `^~` stopping there, then regexes in
file order, then the longest prefix again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
COMPOSE_FILE = REPO / "docker-compose.yml"
SERVICES = ("registry", "matching", "medical", "metrics")


# ------------------------------------------------------------------------------------------- a small parser


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        return [child for child in self.block or [] if child.name == name]

    def child(self, name: str) -> Directive:
        found = self.children(name)
        assert len(found) == 1, f"expected one {name!r} in {self.name} {self.args}, found {len(found)}"
        return found[0]


@dataclass
class Token:
    text: str
    quoted: bool = False
    line: int = 0

    @property
    def is_punctuation(self) -> bool:
        return not self.quoted and self.text in ("{", "}", ";")


def tokenize(source: str) -> list[Token]:
    """Words, quoted strings and the three punctuation marks `{`, `}`, `;`; `#` comments are dropped."""
    tokens: list[Token] = []
    i, line = 0, 1
    while i < len(source):
        char = source[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < len(source) and source[i] != "\n":
                i += 1
        elif char in "{};":
            tokens.append(Token(char, line=line))
            i += 1
        elif char in "\"'":
            end, text = i + 1, []
            while end < len(source) and source[end] != char:
                if source[end] == "\\" and end + 1 < len(source):
                    end += 1
                text.append(source[end])
                end += 1
            if end >= len(source):
                raise ValueError(f"line {line}: unterminated string")
            line += source.count("\n", i, end)
            tokens.append(Token("".join(text), quoted=True, line=line))
            i = end + 1
        else:
            end = i
            while end < len(source) and not source[end].isspace() and source[end] not in "{};\"'":
                end += 1
            tokens.append(Token(source[i:end], line=line))
            i = end
    return tokens


def parse_nginx(source: str) -> list[Directive]:
    """The directives of an nginx configuration, blocks nested; raises on unbalanced braces or a lost `;`."""
    tokens = tokenize(source)
    position = 0

    def parse_block(*, top_level: bool) -> list[Directive]:
        nonlocal position
        directives: list[Directive] = []
        while position < len(tokens):
            token = tokens[position]
            if token.is_punctuation and token.text == "}":
                if top_level:
                    raise ValueError(f"line {token.line}: unexpected '}}'")
                position += 1
                return directives
            if token.is_punctuation:
                raise ValueError(f"line {token.line}: unexpected {token.text!r}")
            name, args = token.text, []
            position += 1
            while position < len(tokens) and not tokens[position].is_punctuation:
                args.append(tokens[position].text)
                position += 1
            if position == len(tokens):
                raise ValueError(f"line {token.line}: {name!r} is not terminated")
            punctuation = tokens[position].text
            position += 1
            if punctuation == ";":
                directives.append(Directive(name, args))
            elif punctuation == "{":
                directives.append(Directive(name, args, parse_block(top_level=False)))
            else:
                raise ValueError(f"line {token.line}: {name!r} ends with '}}' instead of ';'")
        if not top_level:
            raise ValueError("a block is not closed")
        return directives

    return parse_block(top_level=True)


# ----------------------------------------------------------------------------------- nginx location routing


@dataclass
class Location:
    modifier: str  # "", "=", "^~", "~", "~*"
    pattern: str
    directives: list[Directive] = field(default_factory=list)


def locations_of(server: Directive) -> list[Location]:
    found = []
    for directive in server.children("location"):
        if len(directive.args) == 2:
            modifier, pattern = directive.args
        else:
            modifier, pattern = "", directive.args[0]
        found.append(Location(modifier, pattern, directive.block or []))
    return found


def route(server: Directive, uri: str) -> Location:
    """The location nginx picks for `uri` in `server`."""
    locations = locations_of(server)
    for location in locations:
        if location.modifier == "=" and location.pattern == uri:
            return location
    prefixes = [loc for loc in locations if loc.modifier in ("", "^~") and uri.startswith(loc.pattern)]
    longest = max(prefixes, key=lambda loc: len(loc.pattern), default=None)
    if longest is not None and longest.modifier == "^~":
        return longest
    for location in locations:
        flags = re.IGNORECASE if location.modifier == "~*" else 0
        if location.modifier in ("~", "~*") and re.search(location.pattern, uri, flags):
            return location
    if longest is None:
        raise LookupError(f"no location matches {uri}")
    return longest


def proxy_pass_of(location: Location) -> str | None:
    targets = [d.args[0] for d in location.directives if d.name == "proxy_pass"]
    return targets[0] if targets else None


def return_status_of(location: Location) -> int | None:
    returns = [d.args for d in location.directives if d.name == "return"]
    return int(returns[0][0]) if returns else None


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def http() -> Directive:
    top = parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))
    blocks = [d for d in top if d.name == "http"]
    assert len(blocks) == 1
    return blocks[0]


@pytest.fixture(scope="module")
def server(http: Directive) -> Directive:
    return http.child("server")


# ----------------------------------------------------------------------------------------------- the parser


def test_parser_keeps_quoted_semicolons_and_hashes_and_nests_blocks() -> None:
    parsed = parse_nginx("http { # comment ; {\n  server { return 200 \"a;b # c\"; } log_format x '$a'; }")

    assert [d.name for d in parsed] == ["http"]
    http_block = parsed[0]
    assert http_block.child("server").child("return").args == ["200", "a;b # c"]
    assert http_block.child("log_format").args == ["x", "$a"]


@pytest.mark.parametrize("broken", ["http { server { listen 80; }", "http { listen 80 }", "listen 80; }"])
def test_parser_rejects_unbalanced_or_unterminated_configuration(broken: str) -> None:
    with pytest.raises(ValueError):
        parse_nginx(broken)


# ------------------------------------------------------------------------------------------------ the routes


def test_gateway_listens_on_port_8000(server: Directive) -> None:
    assert [d.args for d in server.children("listen")] == [["8000"]]


@pytest.mark.parametrize("service", SERVICES)
def test_each_upstream_points_at_its_service_on_port_8000(http: Directive, service: str) -> None:
    upstreams = {d.args[0]: d for d in http.children("upstream")}

    assert [d.args for d in upstreams[service].children("server")] == [[f"{service}:8000", "resolve"]]


def test_upstream_names_are_re_resolved_through_dockers_dns(http: Directive) -> None:
    # Recreated service containers may come back on new addresses while the gateway keeps running.
    assert http.child("resolver").args[0] == "127.0.0.11"
    for upstream in http.children("upstream"):
        assert upstream.child("zone").args[0] == "upstreams", upstream.args  # `resolve` needs a shared zone


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("path", ["/v1/households?limit=50", "/healthz", "/readyz", "/openapi.json"])
def test_each_prefix_is_proxied_to_its_own_upstream(server: Directive, service: str, path: str) -> None:
    location = route(server, f"/{service}{path}")

    assert proxy_pass_of(location) == f"http://{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_proxy_pass_names_no_uri_so_the_service_prefix_reaches_the_service(server: Directive, service: str) -> None:
    # `proxy_pass http://registry/;` would strip `/registry/` and every service route would 404.
    target = proxy_pass_of(route(server, f"/{service}/v1/anything"))

    assert target is not None
    assert re.fullmatch(r"http://[a-z]+", target), target


def test_paths_outside_the_four_prefixes_are_not_proxied(server: Directive) -> None:
    for uri in ("/", "/admin/", "/registryx/v1/households", "/v1/registry/households"):
        location = route(server, uri)
        assert proxy_pass_of(location) is None, uri
        assert return_status_of(location) == 404, uri


@pytest.mark.parametrize("service", SERVICES)
def test_prometheus_endpoints_are_not_published_through_the_gateway(server: Directive, service: str) -> None:
    assert return_status_of(route(server, f"/{service}/metrics")) == 404


def test_the_metrics_services_api_still_reaches_it(server: Directive) -> None:
    # The regex that hides /<service>/metrics must not swallow the metrics service's own API.
    for uri in ("/metrics/v1/indicators/exit_rate", "/metrics/v1/metrics", "/metrics/metricsx"):
        assert proxy_pass_of(route(server, uri)) == "http://metrics", uri


def test_x_request_id_is_passed_on_or_generated(http: Directive, server: Directive) -> None:
    headers = {d.args[0].lower(): d.args[1] for d in server.children("proxy_set_header")}
    variable = headers["x-request-id"]
    assert variable.startswith("$")

    maps = {d.args[1]: d for d in http.children("map")}
    mapping = maps[variable]
    assert mapping.args[0] == "$http_x_request_id"
    cases = {d.name: d.args for d in mapping.block or []}
    assert cases["default"] == ["$http_x_request_id"]  # the caller's id is kept
    assert cases[""] == ["$request_id"]  # none sent: nginx makes one


def test_upstream_keepalive_is_usable(http: Directive, server: Directive) -> None:
    # keepalive to an upstream only works over HTTP/1.1 with the Connection header cleared.
    assert all(upstream.children("keepalive") for upstream in http.children("upstream"))
    assert server.child("proxy_http_version").args == ["1.1"]
    headers = {d.args[0].lower(): d.args[1] for d in server.children("proxy_set_header")}
    assert headers["connection"] == ""


def test_compose_health_check_probes_a_path_the_gateway_answers_itself(server: Directive) -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    probe = " ".join(compose["services"]["gateway"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/\S*)", probe)
    assert path is not None

    location = route(server, path.group(1))
    assert location.modifier == "="
    assert return_status_of(location) == 200


def test_compose_mounts_this_file_as_the_main_nginx_configuration() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))

    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in compose["services"]["gateway"]["volumes"]
