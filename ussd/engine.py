"""A small USSD menu engine on Africa's Talking's protocol. The gateway sends the whole input
history in `text` ("1*2*Otieno"); the session (screen stack and collected answers) lives in the
cache, keyed by sessionId. Screens hold no business rule: they call the same services as the API."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from accounts.models import User
from ussd.texts import t

MAX_CHARS = 182
SESSION_SECONDS = 300


@dataclass
class Go:
    screen: str
    params: dict = field(default_factory=dict)


@dataclass
class End:
    text: str


@dataclass
class Again:
    """Show the same screen again, after a line saying what was wrong."""

    note: str


Outcome = Go | End | Again


@dataclass
class Context:
    session_id: str
    phone: str
    state: dict

    @property
    def user(self) -> User | None:
        if not hasattr(self, "_user"):
            self._user = User.objects.filter(phone_number=self.phone, is_active=True).first()
        return self._user

    @property
    def lang(self) -> str:
        return self.user.language if self.user else self.state.get("lang", "en")

    @property
    def data(self) -> dict:
        return self.state.setdefault("data", {})


@dataclass
class Screen:
    show: Callable[[Context, dict], str]
    answer: Callable[[Context, dict, str], Outcome]
    back: bool = True  # whether "0" goes back (off where 0 is a valid answer)


SCREENS: dict[str, Screen] = {}


def screen(name: str, *, back: bool = True) -> Callable:
    def register(cls: type) -> type:
        SCREENS[name] = Screen(cls.show, cls.answer, back)
        return cls

    return register


def fit(text: str) -> str:
    """Never more than a USSD screen holds."""
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _render(ctx: Context, note: str = "") -> str:
    name, params = ctx.state["stack"][-1]
    body = SCREENS[name].show(ctx, params)
    return "CON " + fit(f"{note}\n{body}" if note else body)


def handle(*, session_id: str, phone: str, text: str, home: Callable[[Context], str]) -> str:
    key = f"ussd:{session_id}"
    state = cache.get(key)
    value = text.rsplit("*", 1)[-1].strip() if text else ""
    if state is None or not text:
        state = {"stack": [], "data": {}}
        ctx = Context(session_id, phone, state)
        state["stack"] = [[home(ctx), {}]]
        reply = _render(ctx)
    elif text == state.get("last_text"):
        return state["last_reply"]  # the gateway repeated a request: answer it the same way
    else:
        ctx = Context(session_id, phone, state)
        reply = _step(ctx, value, home)
    state["last_text"], state["last_reply"] = text, reply
    if reply.startswith("END "):
        cache.delete(key)
    else:
        cache.set(key, state, timeout=SESSION_SECONDS)
    return reply


def _step(ctx: Context, value: str, home: Callable[[Context], str]) -> str:
    stack = ctx.state["stack"]
    name, params = stack[-1]
    if value == "00":
        ctx.state["stack"] = [[home(ctx), {}]]
        return _render(ctx)
    if value == "0" and SCREENS[name].back and len(stack) > 1:
        stack.pop()
        return _render(ctx)
    outcome = SCREENS[name].answer(ctx, params, value)
    if isinstance(outcome, End):
        return "END " + fit(outcome.text)
    if isinstance(outcome, Again):
        return _render(ctx, outcome.note)
    stack.append([outcome.screen, outcome.params])
    return _render(ctx)


def invalid(ctx: Context) -> Again:
    return Again(t("invalid_choice", ctx.lang))


def choice(value: str, options: int) -> int | None:
    """The menu option picked, 1-based, or None."""
    return int(value) if value.isdigit() and 1 <= int(value) <= options else None


def nav_line(ctx: Context) -> str:
    return t("nav", ctx.lang)


def menu(items: list[str], ctx: Context, *, more: bool = False) -> str:
    lines = [f"{i}. {item}" for i, item in enumerate(items, 1)]
    if more:
        lines.append(t("list_more", ctx.lang))
    lines.append(nav_line(ctx))
    return "\n".join(lines)


def short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


Params = dict[str, Any]
