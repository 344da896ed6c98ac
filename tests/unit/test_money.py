"""P10: KES Decimals and on-chain integers convert exactly, both ways."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazi.money import MoneyError, from_chain, kes, to_chain

cents = st.integers(min_value=1, max_value=10_000_000_00)


@given(cents)
def test_round_trip_is_exact(n):
    amount = Decimal(n) / 100
    units = to_chain(amount)
    assert units == n * 100_000
    assert from_chain(units) == amount
    assert to_chain(from_chain(units)) == units


@pytest.mark.parametrize(
    ("amount", "units"),
    [
        ("0.01", 100_000),
        ("1500.00", 15_000_000_000),
        ("1500", 15_000_000_000),
        ("250000.00", 2_500_000_000_000),
        ("10000000.00", 100_000_000_000_000),
    ],
)
def test_edges(amount, units):
    assert to_chain(Decimal(amount)) == units
    assert from_chain(units) == Decimal(amount)
    assert str(from_chain(units)).endswith(amount[-3:] if "." in amount else ".00")


@pytest.mark.parametrize(
    "bad", ["1.001", "0.005", 1.5, 0.1, True, "abc", "", "NaN", "Infinity", None, [1]]
)
def test_rejects_what_is_not_an_exact_kes_amount(bad):
    with pytest.raises(MoneyError):
        kes(bad)


@given(st.integers(min_value=1, max_value=99_999))
def test_from_chain_refuses_fractions_of_a_cent(remainder):
    with pytest.raises(MoneyError):
        from_chain(15_000_000_000 + remainder)


@pytest.mark.parametrize("bad", [1.0, "100", True, Decimal("100")])
def test_from_chain_takes_only_integers(bad):
    with pytest.raises(MoneyError):
        from_chain(bad)
