from django.urls import path

from payments import api

# Daraja refuses callback URLs that contain M-PESA, Safaricom, exe, exec, cmd, SQL or query
# (payments/daraja/callback_urls.py), so no path it is given names them. The names stay.
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
    path("c2b/confirmation/", api.MpesaC2BConfirmationApi.as_view(), name="mpesa-c2b-confirmation"),
    # The seed's confirmation URL, still registered with Daraja on shortcodes set up before.
    path("mpesa/deposit/", api.MpesaC2BConfirmationApi.as_view()),
    path("c2b/validation/", api.MpesaC2BValidationApi.as_view(), name="mpesa-c2b-validation"),
    path("stk/", api.MpesaStkCallbackApi.as_view(), name="mpesa-stk-callback"),
    path("b2c/result/", api.MpesaB2CResultApi.as_view(), name="mpesa-b2c-result"),
    path("b2c/timeout/", api.MpesaB2CTimeoutApi.as_view(), name="mpesa-b2c-timeout"),
    path("b2c/status/", api.MpesaB2CStatusResultApi.as_view(), name="mpesa-b2c-status"),
    path("reversal/result/", api.MpesaReversalResultApi.as_view(), name="mpesa-reversal-result"),
    path("reversal/timeout/", api.MpesaReversalTimeoutApi.as_view(), name="mpesa-reversal-timeout"),
    path(
        "transaction-status/result/",
        api.MpesaTransactionStatusResultApi.as_view(),
        name="mpesa-status-result",
    ),
]
