"""The feed consumer's work is traced: a span per applied event, its statements as children."""

from __future__ import annotations

import asyncio
import secrets

from article_service import server as article_server
from svckit.tracing import Tracing
from tests.e2e.otlp import receiving

from .conftest import caught_up, register

CONSUMER = 5  # OTLP span kind


async def test_applying_a_feed_event_is_a_span_with_its_statements_under_it(
    settings, auth_stub, auth_db
) -> None:
    async with receiving() as receiver:
        traces = Tracing.create("articles", f"http://{receiver.endpoint}")
        try:
            async with article_server.running(settings, 0, traces) as service:
                await caught_up(service.consumer, auth_db)
                name = f"fed_{secrets.token_hex(4)}"
                await register(auth_stub, name)
                await caught_up(service.consumer, auth_db)
            await asyncio.to_thread(traces.provider.force_flush)
        finally:
            traces.close()
    applied = [
        span
        for span in receiver.spans
        if span.name == "apply user event" and span.attributes["blog.event.kind"] == "created"
    ]
    assert applied, [span.name for span in receiver.spans]
    last = applied[-1]
    assert (last.service, last.kind, last.parent_id) == ("articles", CONSUMER, "")
    children = [span for span in receiver.spans if span.parent_id == last.span_id]
    texts = [str(span.attributes.get("db.query.text", "")) for span in children]
    assert any("INSERT" in text for text in texts), texts
    assert not [text for text in texts if name in text]  # values never in the text
