"""The pages' URLs (kazi/urls.py mounts them at /, after the API and the admin)."""

from django.urls import path, re_path

from web.views import accounts, disputes, errors, jobs, public

app_name = "web"

urlpatterns = [
    path("", public.home, name="home"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.login, name="login"),
    path("logout/", accounts.logout, name="logout"),
    path("language/", accounts.language, name="language"),
    path("me/", accounts.me, name="me"),
    path("me/pin/code/", accounts.pin_code, name="pin_code"),
    path("me/pin/", accounts.pin_reset, name="pin_reset"),
    path("jobs/", public.job_list, name="jobs"),
    path("jobs/new/", jobs.job_new, name="job_new"),
    path("jobs/<id:job_id>/", jobs.job_detail, name="job"),
    path("jobs/<id:job_id>/live/", jobs.job_live, name="job_live"),
    path("jobs/<id:job_id>/pay/", jobs.job_pay, name="job_pay"),
    path("jobs/<id:job_id>/apply/", jobs.job_apply, name="job_apply"),
    path("jobs/<id:job_id>/assign/", jobs.job_assign, name="job_assign"),
    path("jobs/<id:job_id>/deliver/", jobs.job_deliver, name="job_deliver"),
    path("jobs/<id:job_id>/complete/", jobs.job_complete, name="job_complete"),
    path("jobs/<id:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<id:job_id>/dispute/", jobs.job_dispute, name="job_dispute"),
    path(
        "jobs/<id:job_id>/dispute/messages/",
        jobs.job_dispute_message,
        name="job_dispute_message",
    ),
    path("jobs/<id:job_id>/rate/", jobs.job_rate, name="job_rate"),
    path("u/<id:user_id>/", public.profile, name="profile"),
    path("e/", public.proof_lookup, name="proof_lookup"),
    path("e/<str:reference>/", public.proof, name="proof"),
    path("disputes/", disputes.dispute_queue, name="disputes"),
    path("disputes/<id:dispute_id>/", disputes.dispute_detail, name="dispute"),
    path("disputes/<id:dispute_id>/notes/", disputes.dispute_note, name="dispute_note"),
    # Last: any other path ending in / outside api/ and admin/ is the app's own 404 page (with
    # DEBUG on too). Paths without the slash get CommonMiddleware's redirect to it first.
    re_path(r"^(?!api/|admin/|static/).*/$", errors.unknown_path, name="unknown"),
]
