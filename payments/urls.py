from django.urls import path

from payments import api

urlpatterns = [
    path("mpesa/deposit/", api.MpesaC2BConfirmationApi.as_view(), name="mpesa-c2b-confirmation"),
]
