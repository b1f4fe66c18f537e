"""What a proto cannot say about the REST API, in small tables the OpenAPI document
(gateway.openapi) and the route table (gateway.routes) read.

- SEMANTICS: per RPC, the REST status of success (routes.py hands 201/204 to status.lua
  through route metadata), who may call, which errors it documents; ERRORS words each one.
- CONSTRAINTS and NOT_REQUIRED: what the services check in each input field, so input the
  document calls valid is accepted (the fuzzer in faults/fuzz.py relies on it).
- LINKS: what a response lets a client call next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Auth = Literal["none", "optional", "required"]
ERRORS = {
    400: "Invalid input (a field violation names the field), unknown query parameter, "
    "or malformed JSON",
    401: "Missing, expired or invalid bearer token, or wrong credentials; for a refresh "
    "token: unknown, expired, revoked (logout, password change, deleted account), or already "
    "used (which revokes its whole session)",
    403: "The caller is not the author (of the article, or of the drafts asked for), or the "
    "current password given to change it is wrong (which counts as a failed login)",
    404: "Not found (also someone else's draft)",
    409: "Conflict: the username or email is already taken (register, or a change of the "
    "current user), or the article was changed by someone else since its etag was read "
    "(reload and retry)",
    413: "Request body larger than the gateway's limit",
    429: "Too many failed logins for this account name, too many login requests "
    "(the gateway's limit, with Retry-After), or the service is at its bound of concurrent "
    "calls; try again later",
    431: "Request headers (the URL included) larger than the gateway's limit",
    503: "The service or its database is unreachable for now; retry later",
    504: "The service did not answer in time; retry later (a write may have happened: "
    "retry a create with the same request_id)",
}
# What any operation may answer, whatever it does: overload, limits, outages.
ANY_OPERATION = (429, 431, 503, 504)


@dataclass(frozen=True)
class Semantics:
    """REST facts about one RPC that the proto does not carry."""

    success: int
    auth: Auth
    errors: tuple[int, ...] = ()


# Keyed by RPC name; a test fails if an HTTP-annotated RPC is missing here.
SEMANTICS: dict[str, Semantics] = {
    "blog.auth.v1.AuthService.Register": Semantics(201, "none", (409, 429)),
    "blog.auth.v1.AuthService.LoginWithForm": Semantics(200, "none", (401, 429)),
    "blog.auth.v1.AuthService.RefreshToken": Semantics(200, "none", (401,)),
    "blog.auth.v1.AuthService.Logout": Semantics(204, "none", (401,)),
    "blog.auth.v1.AuthService.GetCurrentUser": Semantics(200, "required"),
    "blog.auth.v1.AuthService.UpdateCurrentUser": Semantics(200, "required", (409,)),
    "blog.auth.v1.AuthService.ChangePassword": Semantics(200, "required", (403,)),
    "blog.auth.v1.AuthService.DeleteCurrentUser": Semantics(204, "required"),
    "blog.articles.v1.ArticleService.ListArticles": Semantics(200, "optional", (403,)),
    "blog.articles.v1.ArticleService.GetArticle": Semantics(200, "optional", (404,)),
    "blog.articles.v1.ArticleService.CreateArticle": Semantics(201, "required"),
    "blog.articles.v1.ArticleService.UpdateArticle": Semantics(200, "required", (403, 404, 409)),
    "blog.articles.v1.ArticleService.DeleteArticle": Semantics(204, "required", (403, 404)),
}
# What the services check in the fields a client sends, as JSON Schema, so that input the
# document calls valid is accepted (a fuzzer relies on it). Keyed by message.field; applied
# to request bodies and parameters only. Text never holds NUL (PostgreSQL cannot store it).
# The password's real limit is 72 bytes in UTF-8, which JSON Schema cannot count: maxLength
# (characters) is the part it can say, the description says the rest.
_NO_NUL = "^[^\\u0000]*$"
# The characters Python's str.strip() and re's \s take for white space, spelled out: JSON
# Schema's \s (ECMA-262) differs from Python's in \u001c-\u001f, \u0085 and \ufeff.
_WS = (
    "\\t\\n\\u000b\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_NOT_BLANK = f"^[^\\u0000]*[^{_WS}\\u0000][^\\u0000]*$"
_EMAIL_PART = f"[^@{_WS}\\u0000]+"
# Registration's rules, for the current user's changes too.
_EMAIL = {
    "maxLength": 254,
    "pattern": f"^[{_WS}]*{_EMAIL_PART}@{_EMAIL_PART}\\.{_EMAIL_PART}[{_WS}]*$",
}
_USERNAME = {"pattern": f"^[{_WS}]*[A-Za-z0-9_.-]{{3,50}}[{_WS}]*$"}
_TITLE = {"minLength": 1, "maxLength": 200, "pattern": _NOT_BLANK}
_CONTENT = {"minLength": 10, "pattern": _NO_NUL}
_UUID = {"anyOf": [{"const": ""}, {"format": "uuid"}]}  # empty means none
CONSTRAINTS: dict[str, dict[str, Any]] = {
    # The service strips surrounding white space from the email and username first.
    "blog.auth.v1.RegisterRequest.email": _EMAIL,
    "blog.auth.v1.RegisterRequest.username": _USERNAME,
    "blog.auth.v1.RegisterRequest.password": {"minLength": 8, "maxLength": 72, "pattern": _NO_NUL},
    "blog.auth.v1.UpdateCurrentUserRequest.email": _EMAIL,
    "blog.auth.v1.UpdateCurrentUserRequest.username": _USERNAME,
    "blog.auth.v1.ChangePasswordRequest.current_password": {"minLength": 1, "pattern": _NO_NUL},
    "blog.auth.v1.ChangePasswordRequest.new_password": {
        "minLength": 8,
        "maxLength": 72,
        "pattern": _NO_NUL,
    },
    "blog.auth.v1.RegisterRequest.request_id": _UUID,
    "blog.auth.v1.LoginRequest.username": {"pattern": _NOT_BLANK},
    "blog.auth.v1.LoginRequest.password": {"minLength": 1, "pattern": _NO_NUL},
    # A refresh token is opaque; any other text is just unknown (401).
    "blog.auth.v1.RefreshTokenRequest.refresh_token": {"minLength": 1, "pattern": _NO_NUL},
    "blog.auth.v1.LogoutRequest.refresh_token": {"minLength": 1, "pattern": _NO_NUL},
    "blog.articles.v1.CreateArticleRequest.title": _TITLE,
    "blog.articles.v1.CreateArticleRequest.content": _CONTENT,
    "blog.articles.v1.CreateArticleRequest.request_id": _UUID,
    "blog.articles.v1.UpdateArticleRequest.title": _TITLE,
    "blog.articles.v1.UpdateArticleRequest.content": _CONTENT,
    "blog.articles.v1.ListArticlesRequest.skip": {"minimum": 0},
    "blog.articles.v1.ListArticlesRequest.limit": {"minimum": 1, "maximum": 100},
    "blog.articles.v1.ListArticlesRequest.author_id": {"minimum": 1},
    # Empty means no author filter; anything else must be able to be a username.
    "blog.articles.v1.ListArticlesRequest.author": {"pattern": "^([A-Za-z0-9_.-]{3,50})?$"},
    "blog.articles.v1.ListArticlesRequest.q": {"maxLength": 200, "pattern": _NO_NUL},
}
# Plain proto3 fields a client may leave out: empty means "none" (proto3 JSON takes a
# missing field as empty, so only `optional` fields and these are not required).
NOT_REQUIRED = {
    "blog.auth.v1.RegisterRequest.request_id",
    "blog.articles.v1.CreateArticleRequest.request_id",
}
# OpenAPI links (what a response lets a client call next), for readers and for stateful
# fuzzing: keyed by operationId, then by success status.
_ARTICLE_ID = {"id": "$response.body#/id"}


def _on_article(operation: str, **more: Any) -> dict[str, Any]:
    """A link to `operation` on the article a response returned."""
    return {"operationId": operation, "parameters": _ARTICLE_ID, **more}


# UpdateArticle with the etag of the answer that led to it.
_GUARDED_UPDATE = _on_article("UpdateArticle", requestBody={"etag": "$response.body#/etag"})
LINKS: dict[str, dict[str, Any]] = {
    "Register": {
        "LoginWithForm": {
            "operationId": "LoginWithForm",
            "requestBody": {
                "username": "$request.body#/username",
                "password": "$request.body#/password",
            },
            "description": "Log in as the new user.",
        },
    },
    "CreateArticle": {
        "GetArticle": _on_article("GetArticle"),
        "UpdateArticle": {
            **_GUARDED_UPDATE,
            "description": "Change the new article (the etag guards against lost updates).",
        },
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "GetArticle": {
        "UpdateArticle": _on_article("UpdateArticle"),
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "UpdateArticle": {
        "GetArticle": _on_article("GetArticle"),
        "UpdateArticle": _GUARDED_UPDATE,
        "DeleteArticle": _on_article("DeleteArticle"),
    },
    "ListArticles": {
        "NextPage": {
            "operationId": "ListArticles",
            "parameters": {"page_token": "$response.header.x-next-page-token"},
            "description": "The next page (absent on the last page).",
        },
    },
}
