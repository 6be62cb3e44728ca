"""Property-based fuzzing of the typed settings readers (``tickwire/env.py``).

Any value in the environment either reads as a value of the setting's type, inside its
bounds, or raises :class:`SettingError` naming the variable — never a ``ValueError`` or an
``OverflowError`` that would stop the server with a traceback instead of a sentence.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tickwire.env import SettingError, env_bool, env_float, env_int, env_list, load_dotenv

from .strategies import FUZZ

NAME = "TICKWIRE_FUZZED"
values = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\s*[-+]?\d{0,30}(\.\d*)?([eE][-+]?\d{1,4})?\s*", fullmatch=True),
    st.sampled_from(["nan", "inf", "-inf", "1_000", "0x10", "1e400", "٣", "²", " 7 ", "True"]),
)
bounds = st.one_of(st.none(), st.integers(-1000, 1000))


def check_error(exc: SettingError) -> None:
    assert exc.name == NAME
    assert NAME in str(exc)


@FUZZ
@given(values, bounds, bounds)
def test_int_settings_read_or_name_the_variable(raw, low, high):
    try:
        value = env_int(NAME, 1, minimum=low, maximum=high, environ={NAME: raw})
    except SettingError as exc:
        check_error(exc)
        return
    assert isinstance(value, int)
    assert low is None or value >= low
    assert high is None or value <= high


@FUZZ
@given(values, bounds, bounds)
def test_float_settings_read_or_name_the_variable(raw, low, high):
    try:
        value = env_float(NAME, 1.0, minimum=low, maximum=high, environ={NAME: raw})
    except SettingError as exc:
        check_error(exc)
        return
    assert isinstance(value, float) and math.isfinite(value)
    assert low is None or value >= low
    assert high is None or value <= high


@FUZZ
@given(values)
def test_bool_settings_read_or_name_the_variable(raw):
    try:
        value = env_bool(NAME, False, environ={NAME: raw})
    except SettingError as exc:
        check_error(exc)
        return
    assert isinstance(value, bool)


@FUZZ
@given(st.text(max_size=60))
def test_list_settings_drop_blanks(raw):
    items = env_list(NAME, [], environ={NAME: raw})
    assert all(item and item == item.strip() and "," not in item for item in items)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
            st.from_regex(r"(export )?[A-Z_]{1,8}\s*=\s*['\"]?[^\n\r]{0,12}['\"]?", fullmatch=True),
            st.sampled_from(["# comment", "", "=", "export", "KEY", "1KEY=x", "K=v # c"]),
        ),
        max_size=8,
    )
)
def test_dotenv_files_load_or_name_the_line(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("dotenv") / ".env"
    path.write_text("\n".join(lines), encoding="utf-8")
    target: dict[str, str] = {"ALREADY": "set"}
    try:
        load_dotenv(path, target)
    except SettingError as exc:
        assert exc.name.startswith(".env:")
        return
    assert target["ALREADY"] == "set"
    assert all(key.isidentifier() for key in target)
