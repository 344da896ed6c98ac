from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.jobs import UserProfileApi
from kazi.converters import IdConverter
from kazi.health import HealthApi, PingApi
from notifications.api import NotificationListApi
from ussd.api import UssdRegisterCallbackApi, ussd_callback

register_converter(IdConverter, "id")  # before the apps' URLconfs use it

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/jobs/", include("api.urls")),
    path("api/users/<id:user_id>/", UserProfileApi.as_view(), name="user-profile"),
    path("api/notifications/", NotificationListApi.as_view(), name="notifications"),
    path("api/callbacks/", include("mpesa.urls")),
    path("api/callbacks/", include("payouts.urls")),
    path("api/ussd/", ussd_callback, name="ussd"),
    path(
        "api/ussd/register-callback/",
        UssdRegisterCallbackApi.as_view(),
        name="ussd-register-callback",
    ),
    path("api/health/", HealthApi.as_view(), name="health"),
    path("api/ping/", PingApi.as_view(), name="ping"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The web pages at /, last: they end with a catch-all for unknown paths outside api/ and
    # admin/, answered by the app's own 404 page.
    path("", include("web.urls")),
]

handler400 = "kazi.errors.json_bad_request"
handler404 = "kazi.errors.json_not_found"
handler500 = "web.views.errors.server_error"  # JSON for the API, a page for the web
