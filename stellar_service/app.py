"""The HTTP face of the escrow service (FastAPI). Every error, including FastAPI's own, is JSON
`{"error": {"code", "message"}}`; a write's answer is the recorded one, replayed byte for byte."""

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from stellar_service.backends.base import Backend, ContractError, IdempotencyConflict, Unavailable
from stellar_service.config import Config
from stellar_service.service import (
    EscrowService,
    ServiceError,
    contract_status,
    error_body,
)
from stellar_service.store import Answer

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/api/escrow"
EXAMPLE_ID = "ESCROW_7K3M9QXA"
EXAMPLE_PAYEE = "MALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2GAAAAAAAAAAAFJGP6"

# Which code a malformed field gets (else "validation_error"); the service uses the same codes.
FIELD_CODES = {
    "contract_id": "invalid_contract_id",
    "amount": "invalid_amount",
    "funder": "invalid_funder",
    "payee": "invalid_payee",
    "to_payee": "invalid_split",
    "to_funder": "invalid_split",
}

ContractId = Annotated[
    StrictStr, Field(description="The escrow reference: `ESCROW_` + 8 Crockford base32 chars.")
]
Amount = Annotated[StrictInt, Field(description="On-chain units (7 decimals), 0 < amount < 2^127.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. 1-128 visible ASCII characters; a retry reuses it.",
    ),
]


def _example(example: dict) -> ConfigDict:
    # Strict JSON types and unknown fields refused: a typo must not become a default.
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class CreateBody(BaseModel):
    model_config = _example({"contract_id": EXAMPLE_ID, "amount": 15_000_000_000})
    contract_id: ContractId
    amount: Amount
    funder: StrictStr | None = Field(None, description="G... or C...; default: the float account")


class FundBody(BaseModel):
    model_config = _example({"contract_id": EXAMPLE_ID, "amount": 15_000_000_000})
    contract_id: ContractId
    amount: Amount


class AssignBody(BaseModel):
    model_config = _example({"contract_id": EXAMPLE_ID, "payee": EXAMPLE_PAYEE})
    contract_id: ContractId
    payee: StrictStr = Field(description="G..., M... (muxed: account + id) or C...")


class ReferenceBody(BaseModel):
    model_config = _example({"contract_id": EXAMPLE_ID})
    contract_id: ContractId


class ResolveBody(BaseModel):
    model_config = _example(
        {"contract_id": EXAMPLE_ID, "to_payee": 10_000_000_000, "to_funder": 5_000_000_000}
    )
    contract_id: ContractId
    to_payee: StrictInt
    to_funder: StrictInt


class EscrowOut(BaseModel):
    contract_id: str
    status: str = Field(description="funding | funded | released | refunded | disputed | resolved")
    funder: str
    amount: int
    funded: int
    payee: str | None = Field(description="The payee's account (G... or C...), never muxed.")
    payee_id: int | None = Field(description="The mux id when the payee was assigned as M...")
    released: int = Field(description="What the payee received (net of the fee).")
    fee: int
    refunded: int


class WriteOut(BaseModel):
    contract_id: str
    tx_hash: str
    escrow: EscrowOut


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "Malformed JSON, or a missing/invalid Idempotency-Key.",
        401: "Missing or wrong X-API-Key.",
        404: "not_found: no such escrow.",
        409: "A contract error (already_exists, over_funded, closed, ...) or"
        " idempotency_conflict (the key was used for another request).",
        422: "Invalid input (invalid_amount, invalid_payee, invalid_contract_id, ...) or the"
        " contract's invalid_amount / invalid_split.",
        503: "unavailable: the outcome is unknown; retry with the same Idempotency-Key.",
    }.items()
}


def _error(status_code: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_code, headers=headers)


def _answer(answer: Answer) -> Response:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return Response(
        answer.body, status_code=answer.status_code, media_type="application/json", headers=headers
    )


def create_app(config: Config, backend: Backend | None = None) -> FastAPI:
    service = EscrowService.from_config(config, backend)
    api_key = config.api_key.encode()
    app = FastAPI(
        title="Kazi Trust Stellar escrow service",
        version="0.1.0",
        description="The escrow contract's entry points, each write keyed by an Idempotency-Key."
        " Send X-API-Key on every /api/escrow call.",
    )
    app.state.service = service

    @app.middleware("http")
    async def require_api_key(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Before the body is even parsed: a caller without the key learns nothing.
        if request.url.path.startswith(PROTECTED_PREFIX):
            given = request.headers.get("x-api-key")
            if not given:
                return _error(401, "unauthorized", "the X-API-Key header is required")
            if not hmac.compare_digest(given.encode("latin-1"), api_key):
                return _error(401, "unauthorized", "wrong API key")
        return await call_next(request)

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status_code, exc.code, exc.message)

    @app.exception_handler(ContractError)
    async def contract_error(_: Request, exc: ContractError) -> JSONResponse:
        return _error(contract_status(exc.code), exc.code, exc.message)

    @app.exception_handler(IdempotencyConflict)
    async def conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return _error(409, "idempotency_conflict", str(exc))

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        message = f"{exc}; the outcome is unknown: retry with the same Idempotency-Key"
        return _error(503, "unavailable", message, **{"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        location = tuple(first.get("loc", ()))
        if first["type"] == "json_invalid":
            return _error(400, "malformed_json", "the body is not valid JSON")
        if location == ("body",):
            return _error(400, "malformed_json", "the body must be a JSON object")
        field = str(location[-1]) if location else ""
        if first["type"] == "extra_forbidden":
            return _error(422, "unknown_field", f"{field}: not a field of this request")
        return _error(422, FIELD_CODES.get(field, "validation_error"), f"{field}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own 400 is a body it could not parse (e.g. a 5,000-digit number).
        codes = {400: "malformed_json", 404: "unknown_path", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, "internal_error", "internal error")

    write = {"response_model": WriteOut, "responses": WRITE_ERRORS, "tags": ["writes"]}

    @app.post("/api/escrow/create", **write)
    def create(body: CreateBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Opens an escrow (status `funding`); the funder defaults to the float account."""
        return _answer(service.create(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/fund", **write)
    def fund(body: FundBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Moves `amount` from the funder into the escrow (partial fundings add up)."""
        return _answer(service.fund(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/assign", **write)
    def assign(body: AssignBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Records (or changes, until release) who will be paid."""
        return _answer(service.assign(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/release", **write)
    def release(body: ReferenceBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Pays the payee what was funded, less the platform fee."""
        return _answer(service.release(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/refund", **write)
    def refund(body: ReferenceBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Returns everything funded to the funder."""
        return _answer(service.refund(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/dispute", **write)
    def dispute(body: ReferenceBody, idempotency_key: IdempotencyKey = None) -> Response:
        """Freezes a funded escrow until the arbiter resolves it."""
        return _answer(service.dispute(key=idempotency_key, **body.model_dump()))

    @app.post("/api/escrow/resolve", **write)
    def resolve(body: ResolveBody, idempotency_key: IdempotencyKey = None) -> Response:
        """The arbiter splits a disputed escrow (no fee): the two parts add up to what it holds."""
        return _answer(service.resolve(key=idempotency_key, **body.model_dump()))

    @app.get(
        "/api/escrow/{contract_id}",
        response_model=EscrowOut,
        responses={s: WRITE_ERRORS[s] for s in (401, 404, 422, 503)},
        tags=["reads"],
    )
    def get(contract_id: str) -> JSONResponse:
        """The escrow as the contract records it."""
        return JSONResponse(service.get(contract_id).as_dict())

    @app.get("/api/health", responses={503: WRITE_ERRORS[503]}, tags=["reads"])
    def health() -> JSONResponse:
        """No key needed: whether the backend answers."""
        return JSONResponse(service.health())

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
            for path, operations in schema["paths"].items():
                if path.startswith(PROTECTED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
