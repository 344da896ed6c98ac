from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.examples import APPLICATION_EXAMPLE, JOB_EXAMPLE
from api.serializers import (
    ApplicationOutputSerializer,
    ApplyInputSerializer,
    DisputeInputSerializer,
    DisputeMessageInputSerializer,
    DisputeMessageOutputSerializer,
    JobCreateInputSerializer,
    JobOutputSerializer,
    JobUpdateInputSerializer,
    ProfileOutputSerializer,
    RatingInputSerializer,
    RatingOutputSerializer,
    ResolveInputSerializer,
)
from escrow import workflows
from jobs import selectors, services
from jobs.models import JobApplication, JobListing, JobStatus
from kazi.errors import Forbidden, NotFound
from mpesa.serializers import DepositRequestSerializer, StkRequestOutputSerializer
from mpesa.stk import stk_request


class JobFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=JobStatus.choices)

    class Meta:
        model = JobListing
        fields = ["status"]


def visible_job(request: Request, job_id: int) -> JobListing:
    """The job if the caller may see it; 404 otherwise, so ids of others' jobs reveal nothing."""
    return generics.get_object_or_404(selectors.jobs_visible_to(request.user), pk=job_id)


def owned_job(request: Request, job_id: int) -> JobListing:
    job = visible_job(request, job_id)
    if job.employer_id != request.user.pk:
        raise Forbidden("Only the employer who posted this job can do that.")
    return job


def job_response(request: Request, job_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    job = visible_job(request, job_id)
    data = JobOutputSerializer(job, context={"viewer": request.user}).data
    return Response(data, status=status_code)


class JobListCreateApi(generics.ListAPIView):
    queryset = JobListing.objects.none()  # tells the schema generator the model
    serializer_class = JobOutputSerializer
    filterset_class = JobFilter

    def get_queryset(self) -> QuerySet[JobListing]:
        return selectors.jobs_visible_to(self.request.user)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "viewer": self.request.user}

    @extend_schema(responses={200: JobOutputSerializer(many=True)}, examples=[JOB_EXAMPLE])
    def get(self, request: Request) -> Response:
        return super().get(request)

    @extend_schema(
        request=JobCreateInputSerializer,
        responses={201: JobOutputSerializer},
        examples=[
            OpenApiExample(
                "New job",
                request_only=True,
                value={
                    "title": "Paint a two-room house",
                    "description": "Walls and ceiling, paint provided, in Kasarani.",
                    "budget": "1500.00",
                },
            ),
            JOB_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = JobCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = workflows.job_create(employer=request.user, **data.validated_data)
        return job_response(request, job.pk, status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOutputSerializer}, examples=[JOB_EXAMPLE])
    def get(self, request: Request, job_id: int) -> Response:
        return job_response(request, job_id)

    @extend_schema(
        request=JobUpdateInputSerializer,
        responses={200: JobOutputSerializer},
        examples=[
            OpenApiExample("Assign an applicant", request_only=True, value={"employee": 7}),
            OpenApiExample("Edit", request_only=True, value={"budget": "1800.00"}),
            JOB_EXAMPLE,
        ],
    )
    def patch(self, request: Request, job_id: int) -> Response:
        owned_job(request, job_id)
        data = JobUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = data.validated_data
        if "employee" in changes:
            workflows.job_assign(job_id=job_id, employee_id=changes["employee"])
        else:
            workflows.job_update(job_id=job_id, **changes)
        return job_response(request, job_id)


class JobApplyApi(APIView):
    @extend_schema(
        request=ApplyInputSerializer,
        responses={201: ApplicationOutputSerializer},
        examples=[
            OpenApiExample(
                "Apply", request_only=True, value={"message": "I have painted 20 houses."}
            ),
            APPLICATION_EXAMPLE,
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        visible_job(request, job_id)
        data = ApplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.job_apply(
            job_id=job_id, employee=request.user, **data.validated_data
        )
        return Response(ApplicationOutputSerializer(application).data, status.HTTP_201_CREATED)


class JobApplicationsApi(generics.ListAPIView):
    queryset = JobApplication.objects.none()  # tells the schema generator the model
    serializer_class = ApplicationOutputSerializer

    def get_queryset(self) -> QuerySet:
        return selectors.job_applications(job=owned_job(self.request, self.kwargs["job_id"]))

    @extend_schema(examples=[APPLICATION_EXAMPLE])
    def get(self, request: Request, job_id: int) -> Response:
        return super().get(request)


class JobCompleteApi(APIView):
    @extend_schema(request=None, responses={200: JobOutputSerializer}, examples=[JOB_EXAMPLE])
    def post(self, request: Request, job_id: int) -> Response:
        owned_job(request, job_id)
        workflows.job_complete(job_id=job_id)
        return job_response(request, job_id)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOutputSerializer}, examples=[JOB_EXAMPLE])
    def post(self, request: Request, job_id: int) -> Response:
        owned_job(request, job_id)
        workflows.job_cancel(job_id=job_id)
        return job_response(request, job_id)


class JobDeliverApi(APIView):
    @extend_schema(request=None, responses={200: JobOutputSerializer}, examples=[JOB_EXAMPLE])
    def post(self, request: Request, job_id: int) -> Response:
        """The assigned worker marks the work delivered; the employer's silence window starts."""
        visible_job(request, job_id)
        services.job_deliver(job_id=job_id, employee=request.user)
        return job_response(request, job_id)


class JobDisputeApi(APIView):
    @extend_schema(
        request=DisputeInputSerializer,
        responses={200: JobOutputSerializer},
        examples=[
            OpenApiExample(
                "Dispute",
                request_only=True,
                value={"reason": "Only one of the two rooms was painted."},
            ),
            JOB_EXAMPLE,
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        """The employer or the assigned worker stops the money until an arbiter decides."""
        visible_job(request, job_id)
        data = DisputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflows.job_dispute(job_id=job_id, user=request.user, **data.validated_data)
        return job_response(request, job_id)


class JobDisputeMessagesApi(APIView):
    @extend_schema(
        request=DisputeMessageInputSerializer,
        responses={201: DisputeMessageOutputSerializer},
        examples=[
            OpenApiExample(
                "Evidence", request_only=True, value={"text": "Photos sent to the arbiter."}
            )
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        """Evidence from either party, or a note from an arbiter."""
        visible_job(request, job_id)
        data = DisputeMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = workflows.dispute_message_add(
            job_id=job_id, author=request.user, **data.validated_data
        )
        return Response(DisputeMessageOutputSerializer(message).data, status.HTTP_201_CREATED)


class JobResolveApi(APIView):
    @extend_schema(
        request=ResolveInputSerializer,
        responses={200: JobOutputSerializer},
        examples=[
            OpenApiExample(
                "60/40",
                request_only=True,
                value={"to_employee": "900.00", "to_employer": "600.00", "note": "Half done."},
            ),
            JOB_EXAMPLE,
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        """An arbiter splits what the escrow holds; each side is paid its share."""
        visible_job(request, job_id)
        data = ResolveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflows.job_resolve(job_id=job_id, arbiter=request.user, **data.validated_data)
        return job_response(request, job_id)


class JobRatingApi(APIView):
    @extend_schema(
        request=RatingInputSerializer,
        responses={201: RatingOutputSerializer},
        examples=[
            OpenApiExample(
                "Five stars", request_only=True, value={"score": 5, "comment": "Neat work."}
            )
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        """Each side rates the other once, after the job is completed or resolved."""
        visible_job(request, job_id)
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.job_rate(job_id=job_id, rater=request.user, **data.validated_data)
        return Response(RatingOutputSerializer(rating).data, status.HTTP_201_CREATED)


class UserProfileApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProfileOutputSerializer})
    def get(self, request: Request, user_id: int) -> Response:
        """A user's public profile: nothing private (no phone number, no email)."""
        profile = selectors.public_profile(user_id)
        if profile is None:
            raise NotFound("No such user.")
        return Response(ProfileOutputSerializer(profile).data)


class JobDepositApi(APIView):
    """Send an M-Pesa payment prompt (STK push) to the employer's phone for this job's escrow."""

    @extend_schema(
        request=DepositRequestSerializer,
        responses={201: StkRequestOutputSerializer},
        examples=[
            OpenApiExample("Prompt my phone", request_only=True, value={}),
            OpenApiExample(
                "Prompt",
                response_only=True,
                value={
                    "checkout_request_id": "ws_CO_191220191020363925",
                    "status": "pending",
                    "amount": "1500.00",
                    "phone_number": "+254712345678",
                    "result_message": "",
                },
            ),
        ],
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = owned_job(request, job_id)
        data = DepositRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prompt = stk_request(
            escrow=job.escrow,
            user=request.user,
            phone_number=data.validated_data.get("phone_number", request.user.phone_number),
            amount=data.validated_data.get("amount"),
        )
        return Response(StkRequestOutputSerializer(prompt).data, status=status.HTTP_201_CREATED)
