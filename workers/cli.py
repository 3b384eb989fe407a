"""The `csp-orders` command line.

csp-orders worker                   the worker (Temporal's client settings, below;
                                    CSP_PC_* credentials, CSP_CODEC_KEYS)
csp-orders codec-server             /encode and /decode for the Web UI and the temporal CLI
                                    (CSP_CODEC_KEYS, CSP_CODEC_SERVER_TOKEN)
csp-orders order place FILE [--wait]
csp-orders order status ORDER_ID
csp-orders order tax-id ORDER_ID VALUE
csp-orders order cancel ORDER_ID
csp-orders order cancel-subscription ORDER_ID --line N [--request-id ID]
csp-orders order reduce ORDER_ID --line N --quantity Q [--request-id ID]
csp-orders order payment-failed ORDER_ID
                                    after the purchase, within the refund window
                                    (docs/LIFECYCLE.md)
csp-orders licences add --request-id ID --customer ID --subscription ID --quantity N
                                    (also spelt `licenses add`)
csp-orders schema                   the order document's JSON Schema
csp-orders api                      the storefronts' HTTP API (CSP_STOREFRONTS_FILE,
                                    Temporal's client settings, CSP_CODEC_KEYS); --openapi
                                    prints its OpenAPI document
csp-orders api-key new|revoke --file FILE --storefront ID [--key-id ID]
                                    a storefront's API keys (the file keeps their hashes)

Development (on this machine, with the local Partner Center sandbox):
csp-orders dev                      Temporal dev server + sandbox + codec server + worker
csp-orders demo                     one order per ordering rule, on embedded defaults
csp-orders chaos                    the reliability harness (csp-orders chaos --help)
csp-orders bench                    the performance figures and their targets (--tiny: small)
csp-orders sandbox                  the Partner Center sandbox

Temporal is found as by the temporal CLI and every Temporal SDK: TEMPORAL_ADDRESS (default
127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_API_KEY, TEMPORAL_TLS,
TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
TEMPORAL_TLS_SERVER_NAME, or a profile of temporal.toml (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE);
the environment overrides the profile, --address overrides both. CSP_TEMPORAL_ADDRESS and
CSP_TEMPORAL_NAMESPACE still work where TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE are not set.
(docs/TEMPORAL_CONNECTION.md)

Exit codes of the order and licences commands: 0 done (with --wait: the order completed),
1 the engine did not carry the request out (unknown order, rejected tax ID or cancellation, an
id reused with other content, engine unreachable or busy), 2 usage or input error (bad
arguments, a missing or unreadable file, an invalid order), 3 refused (a cancellation,
reduction or failed payment refused, or a line of a failed payment not undone: the code and
sentence on stderr, nothing changed at Partner Center for it), 4 cancelled, 5 failed (some
lines not fulfilled, or the run was terminated or timed out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

EXIT_OK = 0
EXIT_NOT_DONE = 1  # the engine did not carry the request out; stderr says why
EXIT_USAGE = 2  # bad arguments, an unreadable file, an invalid order or request
EXIT_REFUSED = 3
EXIT_CANCELLED = 4
EXIT_FAILED = 5
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ADDRESS_HELP = (
    "Temporal's address, over TEMPORAL_ADDRESS and the temporal.toml profile's "
    "(default 127.0.0.1:7233)"
)
OUTCOME_EXIT = {"completed": EXIT_OK, "refused": EXIT_REFUSED, "cancelled": EXIT_CANCELLED}


def _print(model: BaseModel) -> None:
    print(model.model_dump_json(indent=2))


def _read_text(command: str, path: str) -> str:
    """A file's text, or one line on stderr and exit 2 (never a stack trace)."""
    try:
        return Path(path).read_text("utf-8")
    except UnicodeDecodeError:
        reason = "it is not UTF-8 text"
    except OSError as error:
        reason = error.strerror or type(error).__name__
    print(f"csp-orders {command}: cannot read {path}: {reason}", file=sys.stderr)
    _exit_now(EXIT_USAGE)


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.core import SandboxSettings
    from sandbox.faults import FaultSettings
    from sandbox.server import serve

    try:
        faults = FaultSettings.model_validate(json.loads(args.faults)) if args.faults else None
        settings = SandboxSettings(
            state_file=Path(args.state) if args.state else None,
            provisioning_delay_seconds=args.provisioning_delay,
            vetting_delay_seconds=args.vetting_delay,
            **({"faults": faults} if faults else {}),
        )
    except (ValueError, ValidationError) as exc:
        print(f"csp-orders sandbox: {exc}", file=sys.stderr)
        return 2
    print(
        f"Partner Center sandbox on http://{args.host}:{args.port} "
        f"(token endpoint /<tenant>/oauth2/token, admin /_sandbox/...)",
        flush=True,
    )
    from workers.logs import configure_logging

    configure_logging(json=True)
    serve(settings, host=args.host, port=args.port)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from clients.contract import coordination_task_queue
    from clients.partner_center import PartnerCenterClient
    from clients.payloads import EncryptionKeysMissing
    from clients.temporal_connection import TemporalSettingsInvalid, TemporalUnreachable
    from ordering.config import load_config
    from workers.logs import configure_logging
    from workers.reconciliation_schedule import ensure_reconciliation_schedule
    from workers.settings import (
        PartnerCenterNotConfigured,
        TemporalSettings,
        WorkerDeploymentNotConfigured,
        partner_center_cap_from_env,
        partner_center_from_env,
        worker_deployment_from_env,
    )
    from workers.storefronts import (
        FILE_VARIABLE,
        StorefrontsFile,
        StorefrontsNotConfigured,
        load_storefronts,
    )
    from workers.worker import build_worker, connect, tracing_interceptors

    configure_logging(json=True, level=args.log_level)
    try:
        temporal = TemporalSettings.from_env()
    except TemporalSettingsInvalid as invalid:
        print(f"csp-orders worker: {invalid}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as error:
        where = args.config or os.environ.get("CSP_ORDERS_CONFIG")
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        print(f"csp-orders worker: cannot use the configuration {where}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    try:
        partner_center = partner_center_from_env()
        cap = partner_center_cap_from_env()
        load_storefronts().webhook_endpoints()  # every webhook's secret is there
        storefronts_file = os.environ.get(FILE_VARIABLE)
        # (read again when it changes: webhooks added or changed without a restart)
        webhooks = StorefrontsFile(Path(storefronts_file)) if storefronts_file else None
        deployment = worker_deployment_from_env()
    except (
        PartnerCenterNotConfigured,
        StorefrontsNotConfigured,
        WorkerDeploymentNotConfigured,
    ) as missing:
        print(f"csp-orders worker: {missing}", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> None:
        from workers.metrics import prometheus_runtime

        runtime = (
            prometheus_runtime(args.metrics_port, args.metrics_host) if args.metrics_port else None
        )
        try:
            client = await connect(temporal.connection, runtime=runtime)
        except EncryptionKeysMissing as missing:
            raise SystemExit(f"csp-orders worker: {missing}") from None
        except TemporalUnreachable as refused:  # one line: what refused, which setting
            raise SystemExit(f"csp-orders worker: {refused}") from None
        await ensure_reconciliation_schedule(client, temporal.task_queue, config)
        async with PartnerCenterClient.from_config(partner_center) as pc:
            worker = build_worker(
                client,
                pc,
                config,
                task_queue=temporal.task_queue,
                interceptors=tracing_interceptors(args.trace_exporter),
                partner_center_requests_per_minute=cap,
                webhook_endpoints=webhooks,
                deployment=deployment,
            )
            shared_cap = f"{cap:g} requests a minute" if cap is not None else "no cap"
            print(
                f"worker on task queue {temporal.task_queue} (and "
                f"{coordination_task_queue(temporal.task_queue)}) at "
                f"{temporal.connection.describe()} "
                f"(Partner Center: {shared_cap}, shared by all its workers)",
                flush=True,
            )
            if deployment is not None:
                print(
                    f"as build {deployment.build_id} of the Worker Deployment "
                    f"{deployment.deployment_name} (versioned: docs/VERSIONING.md)",
                    flush=True,
                )
            # SIGTERM (how services are stopped) and Ctrl-C stop the worker gracefully, so the
            # process exits normally and the last spans and metrics are flushed.
            stop = asyncio.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
            async with worker:
                await stop.wait()

    try:
        asyncio.run(run())
    except SystemExit as stop:  # one line naming the address, as raised above
        print(stop.code, file=sys.stderr)
        _exit_now(EXIT_NOT_DONE)
    # The last spans are exported now: leaving without interpreter finalization (see
    # `_exit_now`) skips the tracer provider's own exit hook.
    from opentelemetry import trace

    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if callable(shutdown):
        shutdown()
    _exit_now(EXIT_OK)


def _without_temporal_server(command: str) -> bool:
    """True, having said so in one line, when the Temporal dev server that `dev`, `demo` and
    `chaos` start is not installed (the `server` extra)."""
    from devtools.temporal_cli import TemporalServerMissing, temporal_binary

    try:
        temporal_binary()
    except TemporalServerMissing as missing:
        print(f"csp-orders {command}: {missing}", file=sys.stderr)
        return True
    return False


def _dev(args: argparse.Namespace) -> int:
    if _without_temporal_server("dev"):
        return EXIT_USAGE
    from devtools.dev import dev_stack
    from workers.logs import configure_logging

    configure_logging(json=False, level=args.log_level)

    async def run() -> None:
        async with dev_stack(
            state_dir=Path(args.state_dir),
            temporal_port=args.port,
            ui_port=args.ui_port,
            sandbox_port=args.sandbox_port,
            codec_port=args.codec_port,
            api_port=args.api_port,
            webhook_url=args.webhook_url,
        ) as stack:
            print(f"Temporal:  {stack.temporal_address}  (task queue {stack.task_queue})")
            print(f"Web UI:    {stack.ui_url}")
            print(f"Sandbox:   {stack.sandbox.base_url}")
            print(f"Codec:     {stack.codec_url}  (the Web UI decodes payloads through it)")
            print(
                f"API:       {stack.api_url}  (storefront dev-shop: "
                f"set -a; . {args.state_dir}/storefront-api.env; set +a  gives CSP_API_KEY)"
            )
            if args.webhook_url:
                print(f"Webhooks:  {args.webhook_url}  (secret CSP_DEV_WEBHOOK_SECRET, same file)")
            print(
                f"Secrets:   set -a; . {args.state_dir}/codec-keys.env; set +a   "
                "(for csp-orders order ... and temporal --codec-endpoint in another terminal)"
            )
            print("Ctrl-C stops everything; state is kept in", args.state_dir, flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _with_shop(args: argparse.Namespace, action: Callable[[Any], Awaitable[int]]) -> int:
    from clients.storefront import (
        ConnectionNotConfigured,
        EncryptionNotConfigured,
        EngineUnreachable,
        LicencesAborted,
        LicencesRefused,
        Storefront,
        StorefrontError,
    )
    from clients.temporal_connection import TemporalSettingsInvalid
    from ordering.validation import InvalidOrder
    from workers.settings import TemporalSettings

    try:
        temporal = TemporalSettings.from_env(args.address)
    except TemporalSettingsInvalid as invalid:
        print(str(invalid), file=sys.stderr)
        return _exit_now(EXIT_USAGE)

    async def run() -> int:
        shop = await Storefront.connect(temporal.connection, task_queue=temporal.task_queue)
        return await action(shop)

    try:
        code = asyncio.run(run())
    except InvalidOrder as invalid:
        print("The order is not valid:", file=sys.stderr)
        for problem in invalid.problems:
            print(f"  {problem}", file=sys.stderr)
        code = EXIT_USAGE
    except ConnectionNotConfigured as error:
        print(str(error), file=sys.stderr)
        code = EXIT_USAGE
    except EngineUnreachable as error:  # one line: what refused, which setting to look at
        print(str(error), file=sys.stderr)
        code = EXIT_NOT_DONE
    except EncryptionNotConfigured as error:
        print(str(error), file=sys.stderr)
        code = EXIT_USAGE
    except (LicencesRefused, LicencesAborted) as error:
        print(f"{error.refusal.code.value}: {error}", file=sys.stderr)
        code = EXIT_REFUSED if isinstance(error, LicencesRefused) else EXIT_FAILED
    except StorefrontError as error:
        print(str(error), file=sys.stderr)
        code = EXIT_NOT_DONE
    return _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """Leave without interpreter finalization: the Temporal client's native runtime threads
    can abort a finalizing interpreter ("PyGILState_Release ... must be current"), turning a
    finished command into a crash. Everything the command says is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _order_place(args: argparse.Namespace) -> int:
    text = _read_text("order place", args.file)

    async def place(shop: Any) -> int:
        from ordering.validation import parse_order

        document = parse_order(text)
        workflow_id = await shop.place_order(document)
        print(f"placed order {document.order_id} (workflow {workflow_id})", flush=True)
        if not args.wait:
            return EXIT_OK
        outcome = await shop.wait_for_outcome(document.order_id)
        _print(outcome)
        if outcome.refusal is not None and outcome.phase.value != "completed":
            print(
                f"order {document.order_id} {outcome.phase.value}: "
                f"{outcome.refusal.code.value}: {outcome.refusal.message}",
                file=sys.stderr,
            )
        return OUTCOME_EXIT.get(outcome.phase.value, EXIT_FAILED)

    return _with_shop(args, place)


def _order_status(args: argparse.Namespace) -> int:
    async def status(shop: Any) -> int:
        _print(await shop.status(args.order_id))
        return 0

    return _with_shop(args, status)


def _order_tax_id(args: argparse.Namespace) -> int:
    async def tax_id(shop: Any) -> int:
        await shop.provide_tax_id(args.order_id, args.value)
        print("tax ID accepted")
        return 0

    return _with_shop(args, tax_id)


def _order_cancel(args: argparse.Namespace) -> int:
    async def cancel(shop: Any) -> int:
        await shop.cancel(args.order_id, args.reason)
        print("cancellation accepted")
        return 0

    return _with_shop(args, cancel)


def _lifecycle(args: argparse.Namespace, change: Callable[[Any], Awaitable[BaseModel]]) -> int:
    """After the purchase: the change's JSON on stdout; a refusal as one line (code: sentence)
    on stderr, exit 3 (an invalid request, exit 2)."""

    async def run(shop: Any) -> int:
        from clients.storefront import LifecycleRefused
        from ordering.refusals import RefusalCode

        try:
            result = await change(shop)
        except LifecycleRefused as refused:
            print(f"{refused.refusal.code.value}: {refused.refusal.message}", file=sys.stderr)
            invalid = refused.refusal.code is RefusalCode.INVALID_REQUEST
            return EXIT_USAGE if invalid else EXIT_REFUSED
        _print(result)
        not_undone = getattr(result, "not_undone", [])
        for line in not_undone:  # (a failed payment: each line it could not undo, and why)
            print(
                f"line {line.line} not undone: {line.refusal.code.value}: {line.refusal.message}",
                file=sys.stderr,
            )
        return EXIT_REFUSED if not_undone else EXIT_OK

    return _with_shop(args, run)


def _order_cancel_subscription(args: argparse.Namespace) -> int:
    return _lifecycle(
        args,
        lambda shop: shop.cancel_subscription(args.order_id, args.line, request_id=args.request_id),
    )


def _order_reduce(args: argparse.Namespace) -> int:
    return _lifecycle(
        args,
        lambda shop: shop.reduce_licences(
            args.order_id, args.line, args.quantity, request_id=args.request_id
        ),
    )


def _order_payment_failed(args: argparse.Namespace) -> int:
    return _lifecycle(args, lambda shop: shop.payment_failed(args.order_id))


def _within(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def number(value: str) -> int:
        try:
            parsed = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not low <= parsed <= high:
            raise argparse.ArgumentTypeError(f"{value} is not from {low} to {high}")
        return parsed

    return number


def _licences_add(args: argparse.Namespace) -> int:
    from clients.contract import LicenceRequest

    try:
        request = LicenceRequest(
            request_id=args.request_id,
            customer_id=args.customer,
            subscription_id=args.subscription,
            quantity=args.quantity,
        )
    except ValidationError as exc:
        from ordering.validation import problems

        print("The licence request is not valid:", file=sys.stderr)
        for problem in problems(exc):
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE

    async def add(shop: Any) -> int:
        _print(await shop.add_licences(request))
        return 0

    return _with_shop(args, add)


def _schema(args: argparse.Namespace) -> int:
    from ordering.document import OrderDocument

    print(json.dumps(OrderDocument.model_json_schema(), indent=2))
    return 0


def _codec_server(args: argparse.Namespace) -> int:
    import uvicorn

    from clients.payloads import KeyRing
    from workers.codec_server import (
        LOOPBACK_HOSTS,
        TOKEN_VARIABLE,
        create_codec_app,
        loopback_ui_origins,
    )

    keys = KeyRing.from_env()
    token = os.environ.get(TOKEN_VARIABLE)
    if keys is None or not token:
        print(
            "csp-orders codec-server: set CSP_CODEC_KEYS (the key ring) and "
            f"{TOKEN_VARIABLE} (the bearer token operators present)",
            file=sys.stderr,
        )
        return 2
    from workers.logs import configure_logging

    configure_logging(json=True)
    origins = args.ui_origin or loopback_ui_origins(8233)
    print(f"codec server on http://{args.host}:{args.port} (UI origins {', '.join(origins)})")
    uvicorn.run(
        create_codec_app(
            keys,
            token,
            origins,
            token_in_path=args.token_in_path,
            # on loopback, only loopback names: a web page cannot reach it by DNS rebinding
            allowed_hosts=LOOPBACK_HOSTS if args.host in LOOPBACK_HOSTS else None,
        ),
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,
        access_log=False,  # request paths may carry the token (--token-in-path)
    )
    return 0


def _api(args: argparse.Namespace) -> int:
    from workers.api.server import api_app, openapi_text

    if args.openapi:
        print(openapi_text(), end="")
        return EXIT_OK
    import uvicorn

    from clients.payloads import EncryptionKeysMissing, writer_key_ring
    from clients.temporal_connection import TemporalSettingsInvalid
    from workers.logs import configure_logging
    from workers.settings import TemporalSettings
    from workers.storefronts import FILE_VARIABLE, StorefrontsNotConfigured

    try:
        temporal = TemporalSettings.from_env()
        writer_key_ring(temporal.address, None)  # the orders it places travel encrypted
        app = api_app(temporal.connection, temporal.task_queue)
    except (EncryptionKeysMissing, StorefrontsNotConfigured, TemporalSettingsInvalid) as error:
        print(f"csp-orders api: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not os.environ.get(FILE_VARIABLE):
        print(
            f"csp-orders api: no storefront can call it: set {FILE_VARIABLE} (the storefronts "
            "file; `csp-orders api-key new` makes keys)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    configure_logging(json=True, level=args.log_level)
    print(
        f"storefront API on http://{args.host}:{args.port} "
        f"(Temporal {temporal.connection.describe()})",
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,
        access_log=False,  # the API logs each request itself, without path values or query
    )
    _exit_now(EXIT_OK)


def _api_key(args: argparse.Namespace) -> int:
    from workers.storefronts import (
        StorefrontsNotConfigured,
        add_api_key,
        revoke_api_key,
    )

    try:
        if args.api_key_command == "new":
            key, entry = add_api_key(Path(args.file), args.storefront, args.key_id)
            print(key)
            print(
                f"API key {entry.id} of storefront {args.storefront} added to {args.file} (its "
                "SHA-256 only; the key above is shown once)",
                file=sys.stderr,
            )
        else:
            revoke_api_key(Path(args.file), args.storefront, args.key_id)
            print(f"API key {args.key_id} of storefront {args.storefront} revoked", file=sys.stderr)
    except StorefrontsNotConfigured as error:
        print(f"csp-orders api-key: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _chaos(args: argparse.Namespace) -> int:
    if not args.plan_only and _without_temporal_server("chaos"):
        return EXIT_USAGE
    from devtools.chaos import run_from_args

    return run_from_args(args)


def _bench(args: argparse.Namespace) -> int:
    if _without_temporal_server("bench"):
        return EXIT_USAGE
    from devtools.bench import main as bench

    return bench(args.options)


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def _demo(args: argparse.Namespace) -> int:
    if _without_temporal_server("demo"):
        return EXIT_USAGE
    from devtools.demo import main as demo

    return demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csp-orders", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="dev server + sandbox + worker")
    dev.add_argument("--state-dir", default=".state/dev")
    dev.add_argument("--port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--sandbox-port", type=int, default=8088)
    dev.add_argument("--codec-port", type=int, default=8089)
    dev.add_argument("--api-port", type=int, default=8090)
    dev.add_argument(
        "--webhook-url", default=None, help="deliver the dev storefront's webhooks to this URL"
    )
    dev.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    dev.set_defaults(run=_dev)

    worker = commands.add_parser("worker", help="run a worker")
    worker.add_argument("--config", help="engine configuration JSON (default: built in)")
    worker.add_argument("--trace-exporter", choices=["console", "otlp"], default=None)
    worker.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port"
    )
    worker.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="the address /metrics listens on (0.0.0.0 in a container, for Prometheus)",
    )
    worker.set_defaults(run=_worker)

    sandbox = commands.add_parser("sandbox", help="run the local Partner Center sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8088)
    sandbox.add_argument("--state", help="persist the sandbox's state to this JSON file")
    sandbox.add_argument("--provisioning-delay", type=float, default=1.0, metavar="SECONDS")
    sandbox.add_argument("--vetting-delay", type=float, default=None, metavar="SECONDS")
    sandbox.add_argument("--faults", help="fault settings as JSON, e.g. '{\"throttle_rate\": 0.1}'")
    sandbox.set_defaults(run=_sandbox)

    order = commands.add_parser("order", help="place and follow orders").add_subparsers(
        dest="order_command", required=True
    )
    place = order.add_parser("place", help="place the order in FILE (JSON)")
    place.add_argument("file")
    place.add_argument("--wait", action="store_true", help="wait for the outcome")
    place.set_defaults(run=_order_place)
    status = order.add_parser("status", help="what the order is doing or waiting for")
    status.add_argument("order_id")
    status.set_defaults(run=_order_status)
    tax = order.add_parser("tax-id", help="supply the customer's tax ID")
    tax.add_argument("order_id")
    tax.add_argument("value")
    tax.set_defaults(run=_order_tax_id)
    cancel = order.add_parser("cancel", help="cancel before the purchase starts")
    cancel.add_argument("order_id")
    cancel.add_argument("--reason", default="")
    cancel.set_defaults(run=_order_cancel)
    line_help = "the order's line, 0-based (lines[n] of the order document)"
    cancel_subscription = order.add_parser(
        "cancel-subscription",
        help="cancel the subscription a line of a completed order created (refund window)",
    )
    cancel_subscription.add_argument("order_id")
    cancel_subscription.add_argument("--line", type=_within(0, 49), required=True, help=line_help)
    request_id_help = (
        "the change's id: asked again with it (after a timeout), the same change is answered, "
        "never made twice"
    )
    cancel_subscription.add_argument("--request-id", help=request_id_help)
    cancel_subscription.set_defaults(run=_order_cancel_subscription)
    reduce = order.add_parser(
        "reduce", help="take back licences a line of a completed order added (refund window)"
    )
    reduce.add_argument("order_id")
    reduce.add_argument("--line", type=_within(0, 49), required=True, help=line_help)
    reduce.add_argument(
        "--quantity",
        type=_within(1, 10_000),
        required=True,
        help="licences to take back (never more than the line added)",
    )
    reduce.add_argument("--request-id", help=request_id_help)
    reduce.set_defaults(run=_order_reduce)
    payment_failed = order.add_parser(
        "payment-failed", help="the order's payment failed: undo what it bought (refund window)"
    )
    payment_failed.add_argument("order_id")
    payment_failed.set_defaults(run=_order_payment_failed)
    for sub in (place, status, tax, cancel, cancel_subscription, reduce, payment_failed):
        sub.add_argument("--address", help=ADDRESS_HELP)

    licences = commands.add_parser(
        "licences", aliases=["licenses"], help="extra licences"
    ).add_subparsers(dest="licences_command", required=True)
    add = licences.add_parser("add", help="add licences to an existing subscription")
    add.add_argument("--request-id", required=True)
    add.add_argument("--customer", required=True)
    add.add_argument("--subscription", required=True)
    add.add_argument("--quantity", type=int, required=True)
    add.add_argument("--address", help=ADDRESS_HELP)
    add.set_defaults(run=_licences_add)

    commands.add_parser("schema", help="print the order JSON Schema").set_defaults(run=_schema)
    commands.add_parser("demo", help="run the demo").set_defaults(run=_demo)
    codec = commands.add_parser("codec-server", help="Temporal codec server (decode payloads)")
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=8089)
    codec.add_argument(
        "--ui-origin",
        action="append",
        help="a Temporal UI origin allowed by CORS (repeatable; default the dev UI on 8233)",
    )
    codec.add_argument(
        "--token-in-path",
        action="store_true",
        help="also accept the token as the endpoint path (<url>/<token>), for a UI without sign-in",
    )
    codec.set_defaults(run=_codec_server)
    api = commands.add_parser(
        "api",
        help="the storefronts' HTTP API (CSP_STOREFRONTS_FILE, TEMPORAL_ADDRESS and Temporal's "
        "other client settings, CSP_CODEC_KEYS)",
    )
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8090)
    api.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    api.add_argument(
        "--openapi", action="store_true", help="print the OpenAPI document (docs/openapi.json)"
    )
    api.set_defaults(run=_api)
    api_key = commands.add_parser(
        "api-key", help="make or revoke a storefront's API keys"
    ).add_subparsers(dest="api_key_command", required=True)
    new_key = api_key.add_parser(
        "new", help="add a new key to the storefronts file; prints the key once"
    )
    revoke = api_key.add_parser("revoke", help="remove a key from the storefronts file")
    for sub in (new_key, revoke):
        sub.add_argument("--file", required=True, help="the storefronts file (JSON)")
        sub.add_argument("--storefront", required=True)
    new_key.add_argument("--key-id", default=None, help="the key's id (default: random)")
    revoke.add_argument("--key-id", required=True)
    for sub in (new_key, revoke):
        sub.set_defaults(run=_api_key)
    chaos = commands.add_parser(
        "chaos",
        help="orders under worker kills, a server restart and faults; reconciled",
        description="A stream of orders while the worker is killed, the Temporal server "
        "restarts and Partner Center misbehaves, then a reconciliation with what Partner "
        "Center holds (docs/RELIABILITY.md). Exit code 0 only when nothing is lost, "
        "duplicated, drifted or orphaned.",
    )
    chaos.add_argument("--orders", type=_count, default=500, help="orders to place (20 race)")
    chaos.add_argument("--kills", type=_count, default=10, help="worker SIGKILLs")
    chaos.add_argument("--server-restarts", type=_count, default=1, help="Temporal server restarts")
    chaos.add_argument("--seed", type=int, default=1, help="seed of the order stream")
    chaos.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="worker processes on the task queue (2 or more: each kill strikes one mid-order)",
    )
    chaos.add_argument(
        "--requests-per-minute",
        dest="cap",
        type=_count,
        default=None,
        metavar="N",
        help="the Partner Center cap all workers share; the sandbox throttles past it",
    )
    chaos.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    chaos.add_argument(
        "--plan-only",
        action="store_true",
        help="print what the run would place and do, start nothing",
    )
    chaos.set_defaults(run=_chaos)
    bench = commands.add_parser(
        "bench",
        help="the engine's figures next to their targets (csp-orders bench --help)",
        add_help=False,
    )
    bench.set_defaults(run=_bench)  # its options are devtools.bench's own
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.run is _bench:
        args.options = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
