"""Long response bodies served after Django has finished the request.

Django's ASGI handler runs a request's sync code (middleware, DRF, the view) on a thread of
the request's own and keeps that thread, and the database connection it took, until the
response's last byte is sent. For an event stream that waits minutes for a job, that is a
parked thread and a pooled connection per open stream.

So a view that streams for long asks to *hand off* its body instead (`hand_off`): it answers
an empty response carrying the headers (status, content type, everything the middleware
adds), and `HandoffApplication`, around Django's application, holds that response back until
Django has finished the request (response closed, `request_finished` sent, connections given
back, the request's thread gone), then sends it and pumps the body from the event loop, until
the body ends or the client goes away. Where nothing can take the body over (the WSGI server,
Django's test client), `hand_off` answers False and the view streams as usual.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

logger = logging.getLogger(__name__)

SLOT = "craftframe.handoff"  # the scope key of a request whose body may be handed off


def hand_off(request, body: Callable[[], AsyncIterator[str]]) -> bool:
    """Ask for `body()` to be sent after the request; False when not served by
    HandoffApplication (then stream it in the response as usual)."""
    slot = getattr(request, "scope", {}).get(SLOT)
    if slot is None:
        return False
    slot["body"] = body
    return True


class HandoffApplication:
    """An ASGI application around Django's: serves handed-off bodies (module docstring)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        slot: dict = {}
        held: list[dict] = []

        async def hold(message):
            # The view has run by the time the response starts: its choice is known.
            if "body" in slot:
                held.append(message)
            else:
                await send(message)

        await self.app({**scope, SLOT: slot}, receive, hold)
        if not held:
            return
        start = held[0]
        if start["status"] != 200:  # something after the view answered instead
            for message in held:
                await send(message)
            return
        headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"content-length"]
        await send({**start, "headers": headers})
        await self._pump(slot["body"](), receive, send)

    @staticmethod
    async def _pump(body: AsyncIterator[str], receive, send) -> None:
        """Send `body` until it ends, or until the client disconnects (then stop it)."""

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        async def chunks() -> None:
            async with contextlib.aclosing(body) as parts:
                async for part in parts:
                    message = {"type": "http.response.body", "body": part.encode()}
                    await send({**message, "more_body": True})

        gone = asyncio.ensure_future(client_gone())
        pump = asyncio.ensure_future(chunks())
        disconnected = False
        try:
            done, _ = await asyncio.wait({gone, pump}, return_when=asyncio.FIRST_COMPLETED)
            disconnected = gone in done
        finally:  # also when the server cancels us (shutting down)
            for task in (gone, pump):
                task.cancel()
            await asyncio.gather(gone, pump, return_exceptions=True)
        failure = None if pump.cancelled() else pump.exception()
        if isinstance(failure, OSError):  # the server could not send: the client is gone
            return
        if failure is not None:
            logger.error("a handed-off response body failed", exc_info=failure)
        if not disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
