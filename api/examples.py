"""Response examples for the API docs."""

from drf_spectacular.utils import OpenApiExample

JOB_EXAMPLE = OpenApiExample(
    "Job",
    response_only=True,
    value={
        "id": 1,
        "title": "Paint a two-room house",
        "description": "Walls and ceiling, paint provided, in Kasarani.",
        "budget": "1500.00",
        "status": "in_progress",
        "employer": {"id": 1, "name": "Wanjiku Kamau"},
        "employee": {"id": 7, "name": "Otieno Odhiambo"},
        "escrow_contract_id": "ESCROW_7KQ2M9XD",
        "escrow": {
            "contract_id": "ESCROW_7KQ2M9XD",
            "status": "in_progress",
            "amount": "1500.00",
            "funded_amount": "1500.00",
            "remaining_amount": "0.00",
            "held_amount": "1500.00",
            "released_amount": "0.00",
            "transactions": [
                {
                    "operation": "create",
                    "status": "succeeded",
                    "amount": "1500.00",
                    "tx_hash": "9c1f...e2",
                },
                {
                    "operation": "fund",
                    "status": "succeeded",
                    "amount": "1500.00",
                    "tx_hash": "41aa...07",
                },
            ],
        },
        "payout": None,
        "payouts": [],
        "deposit_instructions": None,
        "created_at": "2026-11-23T10:00:00+03:00",
        "updated_at": "2026-11-23T10:05:00+03:00",
    },
)

APPLICATION_EXAMPLE = OpenApiExample(
    "Application",
    response_only=True,
    value={
        "id": 3,
        "job": 1,
        "employee": {"id": 7, "name": "Otieno Odhiambo"},
        "phone_number": "+254722000111",
        "message": "I have painted 20 houses.",
        "created_at": "2026-11-23T10:02:00+03:00",
    },
)
