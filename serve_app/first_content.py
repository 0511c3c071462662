"""A model stream held back until its first content, so the response head goes out knowing
which model serves (`X-Gateway-Route`) and a failure before content stays a fallback the
client never sees (routing/resilience tries the next target while nothing has been sent)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.types import Chunk


async def until_first_content(chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """Pull `chunks` until one carries text (or the stream ends, or fails); then return a
    stream that gives back what was pulled, in order, and the rest. A failure before any
    content is raised by the returned stream, where the flow turns it into its error frame."""
    iterator = chunks.__aiter__()
    held: list[Chunk] = []
    failure: Exception | None = None
    ended = False
    try:
        while True:
            chunk = await iterator.__anext__()
            held.append(chunk)
            if chunk.text:
                break
    except StopAsyncIteration:
        ended = True
    except Exception as exc:  # the final error: the flow's own handling answers it
        failure = exc
    except BaseException:  # cancelled with the request: nothing will read the rest
        await iterator.aclose()  # type: ignore[attr-defined]
        raise

    async def replay() -> AsyncIterator[Chunk]:
        try:
            for chunk in held:
                yield chunk
            if failure is not None:
                raise failure
            if not ended:
                async for chunk in iterator:
                    yield chunk
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]

    return replay()
