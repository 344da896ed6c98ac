"""The SMS stand-in of the embedded default: the terminal is the phone."""

import sys


class ConsoleSms:
    """Prints to stdout (not the log), and keeps what it sent for the tests to read."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, *, phone_number: str, message: str) -> None:
        self.sent.append((phone_number, message))
        print(f"[SMS to {phone_number}] {message}", file=sys.stdout, flush=True)
