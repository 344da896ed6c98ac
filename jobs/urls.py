from django.urls import path

from jobs import api

urlpatterns = [
    path("", api.JobListCreateApi.as_view(), name="job-list"),
    path("<int:job_id>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("<int:job_id>/apply/", api.JobApplyApi.as_view(), name="job-apply"),
    path("<int:job_id>/applications/", api.JobApplicationsApi.as_view(), name="job-applications"),
    path("<int:job_id>/complete/", api.JobCompleteApi.as_view(), name="job-complete"),
]
