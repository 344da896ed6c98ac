from django.urls import path

from mpesa import callbacks

# Daraja refuses callback URLs that contain M-PESA, Safaricom, exe, exec, cmd, SQL or query
# (mpesa/daraja/callback_urls.py), so no path it is given names them. The names stay.
urlpatterns = [
    path(
        "c2b/confirmation/",
        callbacks.MpesaC2BConfirmationApi.as_view(),
        name="mpesa-c2b-confirmation",
    ),
    # The seed's confirmation URL, still registered with Daraja on shortcodes set up before.
    path("mpesa/deposit/", callbacks.MpesaC2BConfirmationApi.as_view()),
    path("c2b/validation/", callbacks.MpesaC2BValidationApi.as_view(), name="mpesa-c2b-validation"),
    path("stk/", callbacks.MpesaStkCallbackApi.as_view(), name="mpesa-stk-callback"),
    path(
        "reversal/result/",
        callbacks.MpesaReversalResultApi.as_view(),
        name="mpesa-reversal-result",
    ),
    path(
        "reversal/timeout/",
        callbacks.MpesaReversalTimeoutApi.as_view(),
        name="mpesa-reversal-timeout",
    ),
    path(
        "transaction-status/result/",
        callbacks.MpesaTransactionStatusResultApi.as_view(),
        name="mpesa-status-result",
    ),
]
