from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escrow.models import EscrowContract
from jobs import visibility
from jobs.models import JobApplication, JobListing, JobStatus, Rating
from kazi.serializers import StrictInputSerializer, budget_field
from payouts import visibility as payout_visibility
from payouts.models import MobileMoneyPayout


class PartySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")


class LedgerTransactionSerializer(serializers.Serializer):
    operation = serializers.CharField(source="kind")
    status = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    tx_hash = serializers.CharField()


class EscrowOutputSerializer(serializers.ModelSerializer):
    remaining_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    held_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    transactions = LedgerTransactionSerializer(source="operations", many=True)

    class Meta:
        model = EscrowContract
        fields = [
            "contract_id",
            "status",
            "amount",
            "funded_amount",
            "remaining_amount",
            "held_amount",
            "released_amount",
            "transactions",
        ]


class PayoutOutputSerializer(serializers.ModelSerializer):
    """A payout as context["viewer"] may see it: its personal fields are null unless the viewer is
    its payee, the job's employer or staff."""

    class Meta:
        model = MobileMoneyPayout
        fields = [
            "reference",
            "kind",
            "recipient",
            "status",
            "amount",
            "phone_number",
            "transaction_reference",
            "failure_reason",
            "completed_at",
        ]
        extra_kwargs = {
            field: {
                "required": True,  # the key is always there, null when hidden
                "allow_null": True,
                "help_text": "Null unless it pays you, it is your job's, or you are staff",
            }
            for field in payout_visibility.PAYOUT_PERSONAL_FIELDS
        }

    def to_representation(self, payout: MobileMoneyPayout) -> dict:
        data = super().to_representation(payout)
        if not payout_visibility.shows_payout_details(self.context["viewer"], payout):
            data.update(dict.fromkeys(payout_visibility.PAYOUT_PERSONAL_FIELDS))
        return data


class DepositInstructionsSerializer(serializers.Serializer):
    paybill = serializers.CharField()
    account_number = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class DisputeMessageOutputSerializer(serializers.Serializer):
    author = PartySerializer()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class DisputeOutputSerializer(serializers.Serializer):
    reason = serializers.CharField()
    raised_by = PartySerializer()
    raised_at = serializers.DateTimeField(source="created_at")
    messages = DisputeMessageOutputSerializer(many=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    to_employee = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    to_employer = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    note = serializers.CharField()


class JobOutputSerializer(serializers.ModelSerializer):
    """A job as context["viewer"] may see it: jobs/visibility.py decides, per field and role.
    The shape never depends on the viewer: every key is always present, and a value the viewer
    may not see is null (the fields concerned say so in the schema), never left out."""

    employer = PartySerializer()
    employee = PartySerializer(
        allow_null=True, help_text="Null if none is assigned, or you are not a party to the job"
    )
    escrow_contract_id = serializers.CharField()
    escrow = EscrowOutputSerializer()
    payout = serializers.SerializerMethodField()
    payouts = PayoutOutputSerializer(source="escrow.payouts", many=True, read_only=True)
    deposit_instructions = serializers.SerializerMethodField()
    dispute = serializers.SerializerMethodField()

    class Meta:
        model = JobListing
        fields = [
            "id",
            "title",
            "description",
            "budget",
            "status",
            "employer",
            "employee",
            "escrow_contract_id",
            "escrow",
            "payout",
            "payouts",
            "deposit_instructions",
            "dispute",
            "delivered_at",
            "auto_release_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(PayoutOutputSerializer(allow_null=True))
    def get_payout(self, job: JobListing) -> dict | None:
        payouts = list(job.escrow.payouts.all())
        return PayoutOutputSerializer(payouts[0], context=self.context).data if payouts else None

    @extend_schema_field(
        DepositInstructionsSerializer(
            allow_null=True, help_text="Null unless money is owed and you are the employer or staff"
        )
    )
    def get_deposit_instructions(self, job: JobListing) -> dict | None:
        """How the employer pays what is still owed: Pay Bill with the escrow reference."""
        escrow = job.escrow
        if escrow.remaining_amount <= 0 or job.status == JobStatus.CANCELLED:
            return None
        return DepositInstructionsSerializer(
            {
                "paybill": settings.MPESA_SHORTCODE,
                "account_number": escrow.contract_id,
                "amount": escrow.remaining_amount,
            }
        ).data

    @extend_schema_field(
        DisputeOutputSerializer(
            allow_null=True, help_text="Null unless disputed and you are a party or staff"
        )
    )
    def get_dispute(self, job: JobListing) -> dict | None:
        dispute = getattr(job.escrow, "dispute", None)
        return DisputeOutputSerializer(dispute).data if dispute else None

    def to_representation(self, job: JobListing) -> dict:
        data = super().to_representation(job)
        data.update(dict.fromkeys(visibility.hidden_job_fields(self.context["viewer"], job)))
        return data


class JobCreateInputSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000)
    budget = budget_field()


class JobUpdateInputSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False)
    budget = budget_field(required=False)
    employee = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Assigns this applicant"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Nothing to change.")
        if "employee" in attrs and len(attrs) > 1:
            raise serializers.ValidationError("Assign an employee in a request of its own.")
        return attrs


class ApplyInputSerializer(StrictInputSerializer):
    message = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class ApplicationOutputSerializer(serializers.ModelSerializer):
    employee = PartySerializer()
    phone_number = serializers.CharField(source="employee.phone_number")

    class Meta:
        model = JobApplication
        fields = ["id", "job", "employee", "phone_number", "message", "created_at"]


class DisputeInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=2000)


class DisputeMessageInputSerializer(StrictInputSerializer):
    text = serializers.CharField(max_length=2000)


def share_field() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.00"), help_text="KES, 2 places"
    )


class ResolveInputSerializer(StrictInputSerializer):
    to_employee = share_field()
    to_employer = share_field()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class RatingInputSerializer(StrictInputSerializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class RatingOutputSerializer(serializers.ModelSerializer):
    rater = PartySerializer()
    ratee = PartySerializer()

    class Meta:
        model = Rating
        fields = ["id", "job", "rater", "ratee", "score", "comment", "created_at"]


class ProfileOutputSerializer(serializers.Serializer):
    """What anyone may know of a user: no phone number, no email."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    user_type = serializers.CharField()
    rating_average = serializers.DecimalField(max_digits=3, decimal_places=2, allow_null=True)
    ratings_count = serializers.IntegerField()
    jobs_completed = serializers.IntegerField()
    date_joined = serializers.DateTimeField()
