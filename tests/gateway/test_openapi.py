"""The OpenAPI document: valid, and exactly the routes the descriptors give Envoy."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

from gateway import api_tables, openapi


@pytest.fixture(scope="module")
def document(descriptors, settings):
    return openapi.build(descriptors, settings)


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_paths_are_exactly_the_http_annotations(document, descriptors):
    documented = {(verb.upper(), path) for path, item in document["paths"].items() for verb in item}
    annotated = {(route.verb, route.template) for route in descriptors.routes()}
    assert documented == annotated


def test_every_annotated_rpc_has_its_rest_semantics(descriptors):
    missing = {route.rpc for route in descriptors.routes()} - api_tables.SEMANTICS.keys()
    assert not missing, f"add these to gateway.api_tables.SEMANTICS: {sorted(missing)}"


def test_creates_answer_201_and_deletes_204(document):
    paths = document["paths"]
    assert "201" in paths["/auth/register"]["post"]["responses"]
    assert "201" in paths["/articles"]["post"]["responses"]
    delete = paths["/articles/{id}"]["delete"]["responses"]
    assert "204" in delete
    assert "content" not in delete["204"]
    assert "200" not in delete


def test_error_statuses_are_the_real_ones(document):
    paths = document["paths"]
    assert {"400", "401", "403", "404", "413"} <= paths["/articles/{id}"]["patch"][
        "responses"
    ].keys()
    assert {"401", "429"} <= paths["/auth/login"]["post"]["responses"].keys()
    assert "409" in paths["/auth/register"]["post"]["responses"]
    assert "404" in paths["/articles/{id}"]["get"]["responses"]
    unauthorized = paths["/auth/me"]["get"]["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_bearer_auth_is_declared_and_required_where_a_user_is(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    paths = document["paths"]
    assert paths["/auth/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/articles"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/auth/register"]["post"]["security"] == []
    assert {} in paths["/articles"]["get"]["security"]  # reading works without a token


def test_list_answers_a_bare_array_paged_by_query_parameters(document):
    operation = document["paths"]["/articles"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/Article"}}
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"skip", "limit", "page_token", "author_id", "author", "drafts", "q"}
    assert {p["in"] for p in params.values()} == {"query"}


def test_list_documents_its_filters_bounds_and_errors(document):
    operation = document["paths"]["/articles"]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert schemas["q"]["maxLength"] == 200
    assert schemas["author_id"]["minimum"] == 1
    assert schemas["drafts"]["type"] == "boolean"
    assert re.fullmatch(schemas["author"]["pattern"], "")  # empty: no author filter
    assert not re.search(schemas["author"]["pattern"], "not a name")
    assert {"400", "401", "403"} <= operation["responses"].keys()


def test_login_takes_the_oauth2_password_form_or_json(document):
    content = document["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "application/json"}
    login = document["components"]["schemas"]["LoginRequest"]
    assert set(login["properties"]) == {"username", "password"}


def test_schemas_use_proto_names_numbers_and_times(document):
    article = document["components"]["schemas"]["Article"]
    props = article["properties"]
    assert props["id"]["type"] == "integer"
    assert props["author_id"]["type"] == "integer"
    assert props["created_at"]["format"] == "date-time"
    assert props["published"]["type"] == "boolean"


def test_path_ids_are_not_repeated_in_the_patch_body(document):
    operation = document["paths"]["/articles/{id}"]["patch"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "id" not in body["properties"]
    assert "required" not in body  # every field is optional: only those sent change
    assert [p["name"] for p in operation["parameters"]] == ["id"]


def test_descriptions_come_from_the_proto_comments(document, descriptors):
    operation = document["paths"]["/articles/{id}"]["get"]
    assert (
        operation["description"]
        == descriptors.comments["blog.articles.v1.ArticleService.GetArticle"]
    )
    assert operation["description"].startswith("Returns one article")
    article = document["components"]["schemas"]["Article"]
    assert article["properties"]["title"]["description"]


def test_the_command_line_prints_the_same_document(document):
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == document
