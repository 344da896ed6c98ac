"""Reading the pages as a person would: the text of an element, the errors beside a field."""

import re
from html import unescape

from django.utils.html import strip_tags


def text(response) -> str:
    """The page's visible words, on one line each run of whitespace."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", unescape(strip_tags(body))).strip()


def html(response) -> str:
    return response.content.decode()


def field_errors(response, field: str) -> list[str]:
    """The errors shown beside `field` (Django's list with the id the input points at)."""
    body = html(response)
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', body, re.S)
    if not found:
        return []
    return [unescape(strip_tags(item)).strip() for item in re.findall(r"<li>(.*?)</li>", found[1])]


def form_errors(response) -> list[str]:
    """Errors that belong to no one field, shown atop their form."""
    found = re.findall(r'<ul class="errorlist nonfield"[^>]*>(.*?)</ul>', html(response), re.S)
    return [
        unescape(strip_tags(item)).strip()
        for block in found
        for item in re.findall(r"<li>(.*?)</li>", block)
    ]


def messages(response) -> list[str]:
    found = re.search(r'<ul class="messages"[^>]*>(.*?)</ul>', html(response), re.S)
    if not found:
        return []
    return [
        unescape(strip_tags(item)).strip()
        for item in re.findall(r"<li[^>]*>(.*?)</li>", found[1], re.S)
    ]


def page_ids(response) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', html(response)))


def csrf_token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html(response))[1]
