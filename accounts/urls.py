from django.urls import path
from rest_framework_simplejwt.views import TokenRefreshView

from accounts.api import LoginApi, MeApi, RegisterApi

urlpatterns = [
    path("register/", RegisterApi.as_view(), name="auth-register"),
    path("login/", LoginApi.as_view(), name="auth-login"),
    path("refresh/", TokenRefreshView.as_view(), name="auth-refresh"),
    path("me/", MeApi.as_view(), name="auth-me"),
]
