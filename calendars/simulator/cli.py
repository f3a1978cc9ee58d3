"""Run the simulator standalone: ``python -m calendars.simulator --seed demo_seed.yaml``."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path

from .seed import read_seed
from .server import Simulator

DEMO_SEED = Path(__file__).with_name("demo_seed.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calendars.simulator", description=__doc__)
    parser.add_argument("--seed", type=Path, default=DEMO_SEED, help="JSON or YAML seed file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--version", choices=("Exchange2016", "Exchange2019"), default=None)
    parser.add_argument("--auth", default="basic,ntlm", help="comma-separated: basic, ntlm")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--schema-dir", type=Path, default=None, help="validate responses against this EWS schema"
    )
    args = parser.parse_args(argv)

    seed = read_seed(args.seed)
    sim = Simulator(
        args.host,
        args.port,
        latency=args.latency,
        exchange_version=args.version or seed.get("version", "Exchange2016"),
        auth_methods=tuple(a.strip() for a in args.auth.split(",") if a.strip()),
        validate_schema_dir=args.schema_dir,
    )
    sim.load_seed(seed)
    sim.start()
    print(f"EWS endpoint:  {sim.ews_url}")
    print(f"Autodiscover:  {sim.autodiscover_url}")
    print(f"Auth methods:  {', '.join(sim.auth_methods)}")
    print("Mailboxes:")
    for spec in seed.get("mailboxes", []):
        logins = ", ".join(spec.get("logins", []))
        print(
            f"  {spec['email']:<32} password {spec['password']!r}"
            + (f"  logins: {logins}" if logins else "")
        )
    # Flushed: whoever started us reads these lines from a pipe (block-buffered) to learn
    # the endpoint, and would otherwise wait until we exit.
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
