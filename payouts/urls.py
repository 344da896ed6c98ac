from django.urls import path

from payouts import callbacks

# Results of money sent: IntaSend's and Intersend's payout events, and Daraja's B2C results
# (under names Daraja accepts: mpesa/daraja/callback_urls.py).
urlpatterns = [
    path(
        "intasend/payout/",
        callbacks.IntasendPayoutCallbackApi.as_view(),
        name="intasend-payout-callback",
    ),
    path(
        "intersend/payout/",
        callbacks.IntersendPayoutCallbackApi.as_view(),
        name="intersend-payout-callback",
    ),
    path("b2c/result/", callbacks.MpesaB2CResultApi.as_view(), name="mpesa-b2c-result"),
    path("b2c/timeout/", callbacks.MpesaB2CTimeoutApi.as_view(), name="mpesa-b2c-timeout"),
    path("b2c/status/", callbacks.MpesaB2CStatusResultApi.as_view(), name="mpesa-b2c-status"),
]
