import itertools

import pytest

_sessions = itertools.count(1)


class Dialer:
    """A phone dialling the service code: each `press` is one Africa's Talking request."""

    def __init__(self, client, phone: str) -> None:
        self.client = client
        self.phone = phone
        self.session = None
        self.inputs: list[str] = []

    def dial(self) -> str:
        self.session = f"ATUid_{next(_sessions)}"
        self.inputs = []
        return self._send()

    def press(self, value: str) -> str:
        self.inputs.append(value)
        return self._send()

    def _send(self) -> str:
        response = self.client.post(
            "/api/ussd/",
            {
                "sessionId": self.session,
                "serviceCode": "*384*1234#",
                "phoneNumber": self.phone,
                "networkCode": "63902",
                "text": "*".join(self.inputs),
            },
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        body = response.content.decode()
        assert body.startswith(("CON ", "END ")), body
        assert len(body) - 4 <= 182, body
        return body


@pytest.fixture
def phone(client, db, django_capture_on_commit_callbacks):
    def make(number: str = "+254722000111") -> Dialer:
        return Dialer(client, number)

    return make
