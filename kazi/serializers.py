from decimal import Decimal

from rest_framework import serializers

from kazi.money import MAX_BUDGET


class StrictInputSerializer(serializers.Serializer):
    """Input that names a field we do not know is refused, not silently ignored."""

    def to_internal_value(self, data: object) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def whole_shillings(value: Decimal) -> None:
    if value != value.to_integral_value():
        raise serializers.ValidationError(
            "M-Pesa moves whole shillings: give the budget without cents."
        )


def budget_field(**kwargs: object) -> serializers.DecimalField:
    # M-Pesa takes and pays whole shillings only, so a budget with cents could be neither paid in
    # exactly by Pay Bill nor paid out to the worker by B2C or IntaSend.
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("10.00"),
        max_value=MAX_BUDGET,
        validators=[whole_shillings],
        help_text="KES in whole shillings, from 10 to 10,000,000",
        **kwargs,
    )
