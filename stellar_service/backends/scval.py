"""The escrow contract's arguments and results as Soroban values, both ways, following
contracts/escrow/README.md. The soroban backend encodes with these and the fake RPC decodes with
them, so the two agree on one mapping; the fake checks each argument's type, not only its value."""

from collections.abc import Callable, Sequence
from typing import TypeVar

from stellar_sdk import StrKey, scval
from stellar_sdk import xdr as stellar_xdr

from .base import STATUSES, Escrow

T = TypeVar("T")

# Each write's parameters and their Soroban types, in the contract's order.
SIGNATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "create": (("reference", "symbol"), ("funder", "address"), ("amount", "i128")),
    "fund": (("reference", "symbol"), ("amount", "i128")),
    "assign": (("reference", "symbol"), ("payee", "muxed_address")),
    "release": (("reference", "symbol"),),
    "refund": (("reference", "symbol"),),
    "dispute": (("reference", "symbol"),),
    "resolve": (("reference", "symbol"), ("to_payee", "i128"), ("to_funder", "i128")),
    "get": (("reference", "symbol"),),
}
WRITES = tuple(name for name in SIGNATURES if name != "get")

_TYPES = {
    "symbol": stellar_xdr.SCValType.SCV_SYMBOL,
    "address": stellar_xdr.SCValType.SCV_ADDRESS,
    "muxed_address": stellar_xdr.SCValType.SCV_ADDRESS,
    "i128": stellar_xdr.SCValType.SCV_I128,
}


def _is_address(value: str) -> bool:
    """What an `Address` parameter takes: an account (G...) or a contract (C...)."""
    return StrKey.is_valid_ed25519_public_key(value) or StrKey.is_valid_contract(value)


def is_payee_address(value: str) -> bool:
    """A payee may also be a muxed account (M...): the contract takes a `MuxedAddress`, which
    protocol 23 encodes as `SC_ADDRESS_TYPE_MUXED_ACCOUNT`."""
    return _is_address(value) or StrKey.is_valid_med25519_public_key(value)


_VALID = {"address": _is_address, "muxed_address": is_payee_address}


def _encode(kind: str, value: str | int) -> stellar_xdr.SCVal:
    if kind == "symbol":
        return scval.to_symbol(str(value))
    if kind == "i128":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("on-chain amounts are integers")
        return scval.to_int128(value)
    if not _VALID[kind](str(value)):
        raise ValueError(f"not a valid {kind.replace('_', ' ')}: {value!r}")
    return scval.to_address(str(value))


def encode_args(function: str, args: dict[str, str | int]) -> list[stellar_xdr.SCVal]:
    return [_encode(kind, args[name]) for name, kind in SIGNATURES[function]]


def decode_args(function: str, values: Sequence[stellar_xdr.SCVal]) -> dict[str, str | int]:
    """The named arguments of a call; ValueError if their number or types are not the
    contract's (an address argument of the wrong kind is refused too: `funder` cannot be muxed)."""
    signature = SIGNATURES[function]
    if len(values) != len(signature):
        raise ValueError(f"{function} takes {len(signature)} arguments, got {len(values)}")
    decoded: dict[str, str | int] = {}
    for (name, kind), value in zip(signature, values, strict=True):
        if value.type != _TYPES[kind]:
            raise ValueError(f"{function}.{name} must be {kind}, got {value.type.name}")
        if kind == "symbol":
            decoded[name] = scval.from_symbol(value)
        elif kind == "i128":
            decoded[name] = scval.from_int128(value)
        else:
            address = scval.from_address(value).address
            if not _VALID[kind](address):
                raise ValueError(f"{function}.{name} must be a {kind.replace('_', ' ')}")
            decoded[name] = address
    return decoded


def _optional(value: stellar_xdr.SCVal, decode: Callable[[stellar_xdr.SCVal], T]) -> T | None:
    """`Option<T>`: Soroban encodes None as void and Some(x) as x."""
    return None if value.type == stellar_xdr.SCValType.SCV_VOID else decode(value)


def _some(value: T | None, encode: Callable[[T], stellar_xdr.SCVal]) -> stellar_xdr.SCVal:
    return scval.to_void() if value is None else encode(value)


def decode_escrow(contract_id: str, value: stellar_xdr.SCVal) -> Escrow:
    """`get`'s `Escrow` struct (an ScMap keyed by field name) as the service's Escrow."""
    fields = {scval.from_symbol(k): v for k, v in scval.from_map(value).items()}
    return Escrow(
        contract_id=contract_id,
        status=STATUSES[scval.from_uint32(fields["status"])],
        funder=scval.from_address(fields["funder"]).address,
        amount=scval.from_int128(fields["amount"]),
        funded=scval.from_int128(fields["funded"]),
        payee=_optional(fields["payee"], lambda v: scval.from_address(v).address),
        payee_id=_optional(fields["payee_id"], scval.from_uint64),
        released=scval.from_int128(fields["released"]),
        fee=scval.from_int128(fields["fee"]),
        refunded=scval.from_int128(fields["refunded"]),
    )


def encode_escrow(escrow: Escrow) -> stellar_xdr.SCVal:
    """The inverse of decode_escrow: what the contract's `get` returns (used by the fake RPC)."""
    return scval.to_struct(
        {
            "amount": scval.to_int128(escrow.amount),
            "fee": scval.to_int128(escrow.fee),
            "funded": scval.to_int128(escrow.funded),
            "funder": scval.to_address(escrow.funder),
            "payee": _some(escrow.payee, scval.to_address),
            "payee_id": _some(escrow.payee_id, scval.to_uint64),
            "refunded": scval.to_int128(escrow.refunded),
            "released": scval.to_int128(escrow.released),
            "status": scval.to_uint32(STATUSES.index(escrow.status)),
        }
    )


def contract_error_number(value: stellar_xdr.SCVal) -> int | None:
    """The n of an `Error(Contract, #n)` value, else None."""
    if value.type != stellar_xdr.SCValType.SCV_ERROR or value.error is None:
        return None
    if value.error.type != stellar_xdr.SCErrorType.SCE_CONTRACT:
        return None
    return value.error.contract_code.uint32


def contract_error(number: int) -> stellar_xdr.SCVal:
    return stellar_xdr.SCVal(
        stellar_xdr.SCValType.SCV_ERROR,
        error=stellar_xdr.SCError(
            stellar_xdr.SCErrorType.SCE_CONTRACT, contract_code=stellar_xdr.Uint32(number)
        ),
    )
