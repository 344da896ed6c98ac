import pytest

from accounts.phones import InvalidPhoneNumber, msisdn, normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "0712345678",
        "712345678",
        "254712345678",
        "+254712345678",
        "+254 712 345 678",
        "0712-345-678",
        " 0712345678 ",
    ],
)
def test_every_kenyan_form_is_the_same_number(raw):
    assert normalise_phone(raw) == "+254712345678"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0110123456", "+254110123456"),
        ("0100123456", "+254100123456"),
        ("0733000111", "+254733000111"),
    ],
)
def test_newer_prefixes_are_mobile_numbers(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "0202222222",
        "+15555550100",
        "+255712345678",
        "12345",
        "07123456789",
        "071234567",
        "",
        "phone",
        "0712345678" * 3,
    ],
)
def test_what_is_not_a_kenyan_mobile_number_is_refused(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone(raw)


def test_msisdn_is_what_mobile_money_apis_want():
    assert msisdn("+254712345678") == "254712345678"
