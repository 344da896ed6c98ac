"""`python -m sandbox`: serve the sandbox (gunicorn, one worker process with threads, on
127.0.0.1:$SANDBOX_PORT). With a command, talk to a running one through its control API:

    python -m sandbox pay-bill ESCROW_7KQ2M9XD 1500 [--phone 2547...] [--name Amina]
    python -m sandbox faults [daraja.b2c_reject=1 intasend.fail_later=1 intersend.reject=1 ...]
    python -m sandbox release-held
    python -m sandbox requests [--limit 20]
    python -m sandbox deliveries [--limit 20]"""

import argparse
import json
import os
import sys

from sandbox.config import Config, ConfigError


def serve() -> None:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        raise SystemExit(f"sandbox: {exc}") from None
    os.execv(  # noqa: S606 - our own server, replacing this process
        sys.executable,
        [
            sys.executable,
            *("-m", "gunicorn", "sandbox.wsgi:application"),
            *("--bind", f"127.0.0.1:{config.port}"),
            *("--workers", "1", "--threads", str(config.threads)),
            *("--graceful-timeout", "5", "--access-logfile", "-"),
            "--no-control-socket",  # gunicorn 27 would put one in ~/.gunicorn, shared by all runs
        ],
    )


def control(args: argparse.Namespace) -> int:
    import httpx

    url = args.url.rstrip("/") + "/_sandbox/"
    try:
        if args.command == "pay-bill":
            body = {"account": args.account, "amount": args.amount, "phone": args.phone}
            if args.name:
                body["first_name"] = args.name
            answer = httpx.post(url + "pay-bill", json=body, timeout=30)
        elif args.command == "faults" and args.changes:
            changes: dict[str, dict] = {}
            for change in args.changes:
                name, _, value = change.partition("=")
                provider, _, switch = name.partition(".")
                changes.setdefault(provider, {})[switch] = json.loads(value)
            answer = httpx.post(url + "faults", json=changes, timeout=10)
        elif args.command in {"faults", "requests", "deliveries"}:
            answer = httpx.get(url + args.command, params={"limit": args.limit}, timeout=10)
        else:
            answer = httpx.post(url + args.command, json={}, timeout=30)
    except httpx.HTTPError as exc:
        print(f"no sandbox at {args.url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer.json(), indent=2))
    if args.command == "pay-bill" and answer.is_success and not answer.json().get("completed"):
        print("the payment was refused at validation: M-Pesa cancelled it", file=sys.stderr)
        return 1
    return 0 if answer.is_success else 1


def main() -> int:
    default_url = os.environ.get("SANDBOX_URL") or (
        f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT') or 8002}"
    )
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=default_url, help=f"a running sandbox ({default_url})")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the sandbox (the default)")
    pay = commands.add_parser("pay-bill", help="a customer pays the Pay Bill")
    pay.add_argument("account", help="the account number typed, e.g. ESCROW_7KQ2M9XD")
    pay.add_argument("amount", help="whole shillings, e.g. 1500")
    pay.add_argument("--phone", default="254708374149", help="the payer's number, 2547...")
    pay.add_argument("--name", default="", help="the payer's first name")
    faults = commands.add_parser("faults", help="show or set fault switches")
    faults.add_argument(
        "changes", nargs="*", help="provider.switch=value, e.g. intasend.hold_callbacks=true"
    )
    faults.add_argument("--limit", type=int, default=50, help=argparse.SUPPRESS)
    commands.add_parser("release-held", help="deliver the callbacks held back")
    for name in ("requests", "deliveries"):
        listing = commands.add_parser(name, help=f"the {name} seen, newest first")
        listing.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    if args.command in (None, "serve"):
        serve()
    return control(args)


if __name__ == "__main__":
    sys.exit(main())
