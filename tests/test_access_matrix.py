"""The access-control matrix: every route, as every kind of user, on the owner's objects.

Routes are read from the URL resolver and the API's OpenAPI schema, so a route added without a
row in ``tests/access_matrix_data.py`` fails here. Each cell starts from a fresh world and sends
one request; only the cells the table marks OK may act. A patient never learns that
another patient's object exists (404, never 403); staff see no patient data; pages send the
signed-out to sign in, and staff without TOTP to set it up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from gateway.api import api
from tests.support.access_matrix import (
    API_ROUTES,
    DJANGO_ROUTES,
    EXTRA_PATHS,
    OK,
    SUBJECTS,
    Expect,
    World,
    accepts,
    django_expectation,
    outcome_of,
)

# About a thousand cells, each in a fresh world: a minute or two on its own.
pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.usefixtures("blob_dir")]

ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")
SCHEMA_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    key: str  # the URL name, else the pattern; for API operations "METHOD /path"
    name: str | None = None
    pattern: str = ""
    api: bool = False

    @property
    def expect(self) -> Expect | None:
        if self.api:
            return API_ROUTES.get(self.key)
        if self.key in EXTRA_PATHS:
            return EXTRA_PATHS[self.key]
        return django_expectation(self.key)

    def url(self, world: World, expect: Expect) -> str:
        if expect.path:
            return expect.path
        if self.api:
            return SCHEMA_PARAM.sub(lambda m: world.param(m.group(1)), self.key.split(" ", 1)[1])
        kwargs = {}
        for match in ROUTE_PARAM.finditer(self.pattern):
            param = match.group(1) or match.group(2)
            build = expect.params.get(param)
            kwargs[param] = build(world) if build else world.param(param)
        if self.name is None:
            return "/" + ROUTE_PARAM.sub(lambda m: kwargs[m.group(1) or m.group(2)], self.pattern)
        return reverse(self.name, kwargs=kwargs)


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield prefix + str(entry.pattern), name


def api_operations() -> list[Route]:
    paths = api.get_openapi_schema()["paths"]
    return [
        Route(f"{method.upper()} {path}", api=True)
        for path, operations in paths.items()
        for method in operations
    ]


def django_routes() -> list[Route]:
    """Every URL pattern except the API operations the schema lists (those are checked per
    method); an operation hidden from the schema stays here and needs its own row."""
    in_schema = {route.key.split(" ", 1)[1] for route in api_operations()}
    routes = {}
    for pattern, name in _walk(get_resolver().url_patterns):
        if "/" + ROUTE_PARAM.sub(r"{\1}", pattern) in in_schema:
            continue
        key = name or pattern
        routes.setdefault(key, Route(key, name, pattern))
    return list(routes.values()) + [Route(path, pattern=path) for path in EXTRA_PATHS]


ROUTES = django_routes() + api_operations()


@dataclass(frozen=True)
class Cell:
    route: Route
    method: str
    subject: str

    def __str__(self) -> str:
        where = self.route.key if self.route.api else f"{self.method.upper()} {self.route.key}"
        return f"{where} as {self.subject}"


def cells() -> list[Cell]:
    found = []
    for route in ROUTES:
        expect = route.expect
        if route.api:
            methods = (route.key.split(" ", 1)[0].lower(),)
        else:
            methods = expect.methods if expect else ("get",)
        found += [Cell(route, method, subject) for method in methods for subject in SUBJECTS]
    return found


def send(client, cell: Cell, world: World, expect: Expect, url: str):
    headers = world.bearer(cell.subject) if cell.route.api else {}
    kwargs = {"headers": headers}
    if expect.data and cell.method != "get":
        kwargs["data"] = expect.data(world)
        if expect.json:
            kwargs["content_type"] = "application/json"
    response = getattr(client, cell.method)(url, **kwargs)
    if response.streaming:
        b"".join(response.streaming_content)  # an export logs itself once it has been read
    return response


def test_every_route_has_an_expectation():
    missing = [route.key for route in ROUTES if route.expect is None]
    assert not missing, f"routes with no expectation in tests/access_matrix_data.py: {missing}"


def test_every_expectation_is_for_a_route_that_exists():
    keys = {route.key for route in ROUTES}
    stale = sorted((set(DJANGO_ROUTES) | set(API_ROUTES)) - keys)
    assert not stale, f"expectations for routes that no longer exist: {stale}"


@pytest.mark.parametrize("cell", cells(), ids=str)
def test_each_user_gets_exactly_what_their_role_allows(client, cell: Cell):
    expect = cell.route.expect
    if expect is None:
        pytest.fail(f"route {cell.route.key} has no expectation in tests/access_matrix_data.py")
    world = World()
    url = cell.route.url(world, expect)
    if cell.subject != "anonymous" and not cell.route.api:
        client.force_login(world.subject(cell.subject))
    before = expect.state(world) if expect.state else None

    response = send(client, cell, world, expect, url)

    wanted = expect.outcomes[cell.subject]
    got = outcome_of(response.status_code, response.get("Location", ""))
    assert accepts(wanted, got), f"{cell}: {url} answered {response.status_code}, not {wanted}"
    if expect.state and wanted != OK:
        assert expect.state(world) == before, f"{cell} changed what it may not change"


def test_the_django_admin_site_is_not_served(client):
    """No role can do anything in Django's admin, so it is not there at all: no second sign-in
    form that checks only a password, no empty index."""
    admin = World().clinic_admin
    client.force_login(admin)
    for path in ("/admin/", "/admin/login/", "/admin/accounts/user/"):
        assert client.get(path).status_code == 404, path
