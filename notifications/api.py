from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.models import Notification
from notifications.services import notifications_of


class DeliveryOutputSerializer(serializers.Serializer):
    channel = serializers.CharField()
    status = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)


class NotificationOutputSerializer(serializers.ModelSerializer):
    deliveries = DeliveryOutputSerializer(many=True)

    class Meta:
        model = Notification
        fields = ["id", "event", "subject", "body", "created_at", "deliveries"]


class NotificationListApi(generics.ListAPIView):
    """What you were told about your money, newest first, and how each message went out."""

    queryset = Notification.objects.none()  # tells the schema generator the model
    serializer_class = NotificationOutputSerializer

    def get_queryset(self) -> QuerySet[Notification]:
        return notifications_of(self.request.user)

    @extend_schema(
        examples=[
            OpenApiExample(
                "Paid",
                response_only=True,
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 7,
                            "event": "payout_sent",
                            "subject": "Money sent to your M-Pesa",
                            "body": "Kazi Trust: KES 1,500.00 for your work has been sent to "
                            "your M-Pesa (UL4213LP7S).",
                            "created_at": "2026-11-23T10:20:00+03:00",
                            "deliveries": [
                                {
                                    "channel": "sms",
                                    "status": "sent",
                                    "sent_at": "2026-11-23T10:20:01+03:00",
                                }
                            ],
                        }
                    ],
                },
            )
        ]
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
