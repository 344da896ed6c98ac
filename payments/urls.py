from django.urls import path

from payments import api

urlpatterns = [
    path(
        "intasend/payout/",
        api.IntasendPayoutCallbackApi.as_view(),
        name="intasend-payout-callback",
    ),
    path(
        "intersend/payout/",
        api.IntersendPayoutCallbackApi.as_view(),
        name="intersend-payout-callback",
    ),
    path("mpesa/deposit/", api.MpesaC2BConfirmationApi.as_view(), name="mpesa-c2b-confirmation"),
    path("mpesa/validation/", api.MpesaC2BValidationApi.as_view(), name="mpesa-c2b-validation"),
    path("mpesa/stk/", api.MpesaStkCallbackApi.as_view(), name="mpesa-stk-callback"),
    path(
        "mpesa/reversal/result/", api.MpesaReversalResultApi.as_view(), name="mpesa-reversal-result"
    ),
    path(
        "mpesa/status/result/",
        api.MpesaTransactionStatusResultApi.as_view(),
        name="mpesa-status-result",
    ),
    path("mpesa/b2c/result/", api.MpesaB2CResultApi.as_view(), name="mpesa-b2c-result"),
    path("mpesa/b2c/timeout/", api.MpesaB2CTimeoutApi.as_view(), name="mpesa-b2c-timeout"),
    path("mpesa/b2c/status/", api.MpesaB2CStatusResultApi.as_view(), name="mpesa-b2c-status"),
    path(
        "mpesa/reversal/timeout/",
        api.MpesaReversalTimeoutApi.as_view(),
        name="mpesa-reversal-timeout",
    ),
]
