"""A worker's own Stellar account receives their releases: a typo must never be stored."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import EmployeeFactory


@pytest.mark.parametrize(
    "account",
    [
        "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESX",  # check digits off by one
        "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HES",  # one character short
        "SALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS",  # a secret seed's prefix
    ],
)
def test_a_mistyped_stellar_account_is_refused(db, account):
    user = EmployeeFactory.build(stellar_account_id=account)
    with pytest.raises(ValidationError, match="Stellar account"):
        user.full_clean()


def test_a_valid_account_is_accepted(db):
    user = EmployeeFactory.build(
        stellar_account_id="GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS"
    )
    user.full_clean()
