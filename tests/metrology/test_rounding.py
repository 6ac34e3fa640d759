"""GUM 7.2.6 rounding for what people read: U to two significant digits (up), E to the same place."""

import pytest

from meterlab.metrology.rounding import rounded


@pytest.mark.parametrize(("value", "expanded_u", "expected"), [
    (1.7164355, 0.70301358, ("+1.72", "0.71")),     # U rounded up, never down
    (-0.2768, 0.18649, ("-0.28", "0.19")),
    (-0.146, 0.2, ("-0.15", "0.20")),               # trailing zero kept: two significant digits
    (12.3456, 0.0994, ("+12.35", "0.10")),          # 0.0994 rounds up to 0.100 = 0.10, one place less
    (123.4, 12.1, ("+123", "13")),
    (0.001234, 0.0000567, ("+0.001234", "0.000057")),
])
def test_u_has_two_significant_digits_and_e_the_same_place(value, expanded_u, expected):
    assert rounded(value, expanded_u, signed=True) == expected


def test_without_a_usable_u_the_value_keeps_four_significant_digits():
    assert rounded(0.123456, None) == ("0.1235", "—")
    assert rounded(0.123456, 0.0) == ("0.1235", "—")
