from celery import shared_task

from notifications.sms import get_sms_sender


@shared_task(autoretry_for=(OSError,), retry_backoff=2, retry_jitter=True, max_retries=5)
def send_sms(phone_number: str, message: str) -> None:
    get_sms_sender().send(phone_number=phone_number, message=message)
