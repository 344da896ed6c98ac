"""What `bench.py http` serves: Django exactly as production runs it (settings, middleware, every
URL of kazi.urls) plus POST /bench/floor/, which makes a C2B confirmation's writes (the raw
callback, the deposit, the escrow locked and credited, the ledger operation, the announcement) as
one SQL statement in pgbench's scratch schema, the body read by json.loads. No DRF, no validation,
no ORM, no replay handling: what the request cycle and the writes alone cost on this machine, so
the bench shows how far any confirmation served by Django could go. Never imported by the app."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kazi.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

WRITES = """
WITH escrow AS (SELECT id FROM bench_pgbench.escrow WHERE id = %(escrow)s FOR UPDATE),
callback AS (
    INSERT INTO bench_pgbench.callback (kind, remote_addr, body, outcome)
    VALUES ('mpesa_c2b_confirmation', %(address)s, %(body)s, 'credited') RETURNING id),
deposit AS (
    INSERT INTO bench_pgbench.deposit (transaction_reference, escrow_id, callback_id, amount)
    SELECT %(trans_id)s, escrow.id, callback.id, %(amount)s FROM escrow, callback
    RETURNING escrow_id),
operation AS (
    INSERT INTO bench_pgbench.ledger_operation (escrow_id, kind, amount, source_key)
    SELECT escrow_id, 'fund', %(amount)s, %(trans_id)s FROM deposit),
credit AS (
    UPDATE bench_pgbench.escrow SET funded = funded + %(amount)s, updated_at = now()
    WHERE id IN (SELECT escrow_id FROM deposit))
INSERT INTO bench_pgbench.announcement (topic, payload)
SELECT 'escrow.credited', jsonb_build_object('escrow_id', escrow_id) FROM deposit
"""


@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    values = {
        "escrow": int(data["BillRefNumber"]),
        "address": request.META["REMOTE_ADDR"],
        "body": request.body.decode(),
        "trans_id": data["TransID"],
        "amount": data["TransAmount"],
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(WRITES, values)
    except IntegrityError:
        pass  # a replay: the TransID is on record
    return JsonResponse({"ResultCode": 0, "ResultDesc": "Accepted"})


urlpatterns = [path("bench/floor/", floor), path("", include(settings.ROOT_URLCONF))]
settings.ROOT_URLCONF = __name__
