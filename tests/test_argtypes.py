"""The shared argparse value types every command line uses."""

import argparse

import pytest

from tickwire.argtypes import number


@pytest.mark.parametrize(
    "parser, text, error",
    [
        (number(int, minimum=1), "x", "'x' is not a whole number"),
        (number(float), "abc", "'abc' is not a number"),
        (number(float), "nan", "'nan' is not a finite number"),
        (number(float, above=0), "inf", "'inf' is not a finite number"),
        (number(float, above=0), "0", "'0' must be greater than 0"),
        (number(int, minimum=0), "-1", "'-1' must be 0 or more"),
        (number(int, minimum=1, maximum=9), "10", "'10' must be from 1 to 9"),
        (number(int, maximum=9), "10", "'10' must be at most 9"),
        (number(int, minimum=1, message="{text} is too small"), "0", "'0' is too small"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_value(parser, text, error):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parser(text)
    assert str(info.value) == error


def test_good_values_parse_to_their_kind():
    assert number(int, minimum=1)("5") == 5
    assert number(float, above=0)("0.25") == 0.25
    assert isinstance(number(float)("3"), float)
