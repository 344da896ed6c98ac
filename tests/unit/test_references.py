import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.references import ALPHABET, check_character, new_reference, normalise_reference

bodies = st.text(alphabet=ALPHABET, min_size=7, max_size=7)


def code_of(body: str) -> str:
    return body + check_character(body)


def test_new_references_are_well_formed_and_distinct():
    refs = {new_reference() for _ in range(500)}
    assert len(refs) == 500
    for ref in refs:
        assert ref.startswith("ESCROW_")
        assert len(ref) == 15
        assert set(ref[7:]) <= set(ALPHABET)
        assert normalise_reference(ref) == ref


@pytest.mark.parametrize(
    "typed",
    ["escrow_7kq2m9xd", " ESCROW 7KQ2 M9XD ", "7KQ2M9XD", "ESCROW7KQ2M9XD", "ESCROW-7KQ2-M9XD"],
)
def test_matching_is_forgiving_of_how_people_type(typed):
    body = "7KQ2M9X"
    expected = "ESCROW_" + code_of(body)
    typed = typed.replace("M9XD", "M9X" + check_character(body)).replace(
        "m9xd", ("m9x" + check_character(body)).lower()
    )
    assert normalise_reference(typed) == expected


def test_confusable_letters_read_as_digits():
    body = "10A0B1C"
    code = code_of(body)
    typed = code.replace("1", "l").replace("0", "O")
    assert normalise_reference(typed) == "ESCROW_" + code


@given(bodies, st.integers(min_value=0, max_value=7), st.sampled_from(ALPHABET))
def test_any_single_mistyped_character_is_caught(body, position, char):
    code = code_of(body)
    typo = code[:position] + char + code[position + 1 :]
    if typo != code:
        assert normalise_reference(typo) is None


@pytest.mark.parametrize(("a", "b"), [("0", "Z"), ("Z", "0"), ("1", "Y"), ("A", "B")])
@pytest.mark.parametrize("position", range(6))
def test_swaps_luhn_would_miss_are_caught(a, b, position):
    body = list("7KQ2M9X")
    body[position], body[position + 1] = a, b
    code = code_of("".join(body))
    swapped = code[:position] + b + a + code[position + 2 :]
    assert normalise_reference(swapped) is None


@given(bodies, st.integers(min_value=0, max_value=6))
def test_any_swap_of_neighbours_is_caught(body, position):
    code = code_of(body)
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    if swapped != code:
        assert normalise_reference(swapped) is None


@pytest.mark.parametrize("junk", ["", "ESCROW_", "ESCROW_123", "ESCROW_7KQ2M9XDD", "ÉSCROW", "%%%"])
def test_junk_is_not_a_reference(junk):
    assert normalise_reference(junk) is None
