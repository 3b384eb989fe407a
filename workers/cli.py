"""The `csp-orders` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError


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
    serve(settings, host=args.host, port=args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from workers.walkthrough import main as walkthrough

    return walkthrough()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csp-orders", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="run the local Partner Center sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8088)
    sandbox.add_argument("--state", help="persist the sandbox's state to this JSON file")
    sandbox.add_argument("--provisioning-delay", type=float, default=1.0, metavar="SECONDS")
    sandbox.add_argument("--vetting-delay", type=float, default=None, metavar="SECONDS")
    sandbox.add_argument(
        "--faults", help="fault settings as JSON, e.g. '{\"throttle_rate\": 0.05}'"
    )
    sandbox.set_defaults(run=_sandbox)

    demo = commands.add_parser("demo", help="run the demo on embedded defaults")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
