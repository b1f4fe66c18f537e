"""A typed async client of the blog platform's gRPC services, for internal callers.

    from blog.articles.v1 import articles_pb2, articles_pb2_grpc
    import blog_client

    async with blog_client.connect("127.0.0.1:50052") as channel:
        articles = articles_pb2_grpc.ArticleServiceStub(channel)
        article = await articles.GetArticle(articles_pb2.GetArticleRequest(id=1))

The generated messages and stubs are the `blog` package of this same distribution;
`connect` adds deadlines, retried reads, keepalive and the errors of `blog_client.errors`.
"""

from ._bearer import Metadata, bearer
from ._channel import CHANNEL_OPTIONS, SERVICE_CONFIG, connect
from .errors import (
    AbortedError,
    AlreadyExistsError,
    BlogError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    from_rpc_error,
)

__all__ = [
    "CHANNEL_OPTIONS",
    "SERVICE_CONFIG",
    "AbortedError",
    "AlreadyExistsError",
    "BlogError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "Metadata",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "bearer",
    "connect",
    "from_rpc_error",
]
