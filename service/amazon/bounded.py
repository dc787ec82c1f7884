"""Reading Amazon's answers with a size limit: an answer of LWA or the Alexa API is a few
hundred bytes of JSON, so anything far larger (or endless) is garbage, read no further than
the limit rather than into memory whole."""

from __future__ import annotations

from typing import Final

import aiohttp

MAX_ANSWER_BYTES: Final = 64 * 1024
_CHUNK: Final = 16 * 1024


class AnswerTooLarge(Exception):
    """The answer's body is longer than the limit; what was read of it is dropped."""


async def read_body(resp: aiohttp.ClientResponse, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The whole body, or `AnswerTooLarge` as soon as it is known to exceed `limit` bytes
    (from `Content-Length`, or while reading a body sent without one)."""
    if resp.content_length is not None and resp.content_length > limit:
        raise AnswerTooLarge(f"answer of {resp.content_length} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(f"answer of more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
