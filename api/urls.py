from django.urls import path

from api import jobs as api

urlpatterns = [
    path("", api.JobListCreateApi.as_view(), name="job-list"),
    path("<id:job_id>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("<id:job_id>/apply/", api.JobApplyApi.as_view(), name="job-apply"),
    path("<id:job_id>/applications/", api.JobApplicationsApi.as_view(), name="job-applications"),
    path("<id:job_id>/complete/", api.JobCompleteApi.as_view(), name="job-complete"),
    path("<id:job_id>/cancel/", api.JobCancelApi.as_view(), name="job-cancel"),
    path("<id:job_id>/deposit/", api.JobDepositApi.as_view(), name="job-deposit"),
    path("<id:job_id>/deliver/", api.JobDeliverApi.as_view(), name="job-deliver"),
    path("<id:job_id>/dispute/", api.JobDisputeApi.as_view(), name="job-dispute"),
    path(
        "<id:job_id>/dispute/messages/",
        api.JobDisputeMessagesApi.as_view(),
        name="job-dispute-messages",
    ),
    path("<id:job_id>/resolve/", api.JobResolveApi.as_view(), name="job-resolve"),
    path("<id:job_id>/rating/", api.JobRatingApi.as_view(), name="job-rating"),
]
