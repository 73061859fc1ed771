"""JSON decoding on the hot paths (usage batches, Meta webhooks): orjson, several times faster than the standard
library on a 1,000-event body. orjson is stricter than the standard library, never looser (no NaN, no lone
surrogate escape, no integer beyond 64 bits, UTF-8 only), so what it refuses is handed to the caller's own
standard-library decoding: every accepted body, every refusal and every error message stay what they were."""

from collections.abc import Callable

import orjson


def loads(raw: bytes, standard: Callable[[], object]) -> object:
    """The JSON value of `raw` by orjson; where orjson refuses it, whatever `standard()` (the caller's decoding
    with the json module) returns or raises."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return standard()
