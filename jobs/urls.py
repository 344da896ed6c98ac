from django.urls import path, register_converter

from jobs import api
from kazi.converters import IdConverter

register_converter(IdConverter, "id")

urlpatterns = [
    path("", api.JobListCreateApi.as_view(), name="job-list"),
    path("<id:job_id>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("<id:job_id>/apply/", api.JobApplyApi.as_view(), name="job-apply"),
    path("<id:job_id>/applications/", api.JobApplicationsApi.as_view(), name="job-applications"),
    path("<id:job_id>/complete/", api.JobCompleteApi.as_view(), name="job-complete"),
    path("<id:job_id>/cancel/", api.JobCancelApi.as_view(), name="job-cancel"),
    path("<id:job_id>/deposit/", api.JobDepositApi.as_view(), name="job-deposit"),
]
