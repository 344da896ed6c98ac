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


def budget_field(**kwargs: object) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("10.00"),
        max_value=MAX_BUDGET,
        help_text="KES, 2 decimal places, from 10.00 to 10,000,000.00",
        **kwargs,
    )
