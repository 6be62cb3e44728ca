"""Hypothesis strategies and settings shared by the fuzzing tests.

Example counts are modest so the default run takes seconds; ``TICKWIRE_FUZZ_EXAMPLES``
raises them (``make soak`` does).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TICKWIRE_FUZZ_EXAMPLES", "150"))

#: Settings for every fuzzing test: no deadline (a loaded 2-core machine is slow at times),
#: no health check for slow data generation, and the example count above.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Integers orjson can carry (64-bit) and some it cannot, floats that JSON can carry.
json_ints = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    json_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.text(max_size=12), inner, max_size=6),
    ),
    max_leaves=30,
)

#: Strings a hostile client might put where a symbol, id or number belongs: Unicode
#: digits and letters that case-map into ASCII, control characters, long runs.
tricky_text = st.one_of(
    st.text(max_size=40),
    st.text(
        alphabet="²³¹\u0663\u06f7\u07c0\u0966\uff11\u017f\u0131\ufb00\ufb05Kµ\x00\n\t -.:/=^",
        max_size=12,
    ),
    st.from_regex(r"[A-Za-z0-9._\-/:=^]{1,40}", fullmatch=True),
)
