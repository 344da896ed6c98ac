from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import selectors, services
from jobs.examples import APPLICATION_EXAMPLE, JOB_EXAMPLE
from jobs.models import JobApplication, JobListing, JobStatus
from jobs.serializers import (
    ApplicationOutputSerializer,
    ApplyInputSerializer,
    JobCreateInputSerializer,
    JobOutputSerializer,
    JobUpdateInputSerializer,
)
from kazi.errors import Forbidden
from payments.serializers import DepositRequestSerializer, StkRequestOutputSerializer
from payments.stk import stk_request


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
        job = services.job_create(employer=request.user, **data.validated_data)
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
            services.job_assign(job_id=job_id, employee_id=changes["employee"])
        else:
            services.job_update(job_id=job_id, **changes)
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
        services.job_complete(job_id=job_id)
        return job_response(request, job_id)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOutputSerializer}, examples=[JOB_EXAMPLE])
    def post(self, request: Request, job_id: int) -> Response:
        owned_job(request, job_id)
        services.job_cancel(job_id=job_id)
        return job_response(request, job_id)


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
