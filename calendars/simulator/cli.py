"""Run the simulator standalone: ``python -m calendars.simulator --seed demo_seed.yaml``.

With ``--idp-port`` it also runs the Entra-like identity provider (HTTPS with a test CA whose
certificate goes to ``--ca-dir``), so cloud mailboxes answer over Microsoft Graph and the app's
"Connect with Microsoft" works against it.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .seed import read_seed
from .server import Simulator

DEMO_SEED = Path(__file__).with_name("demo_seed.yaml")


def _identity_provider(args: argparse.Namespace) -> Any:
    """The identity provider the options ask for, started, or None."""
    if not args.idp_port:
        return None
    from .idp import IdentityProvider
    from .tls import TestCA

    # A directory of our choosing (not a temporary one) so the app can be pointed at its
    # ca.pem before we exit; TestCA leaves a directory it was given in place.
    ca = TestCA(directory=args.ca_dir) if args.ca_dir else TestCA()
    idp = IdentityProvider(args.host, args.idp_port, tenant=args.tenant, ca=ca).start()
    if args.client_id:
        if not args.client_secret or not args.redirect_uri:
            raise SystemExit("--client-id needs --client-secret and --redirect-uri")
        idp.register_application(
            args.client_id, args.client_secret, redirect_uris=list(args.redirect_uri)
        )
    return idp


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
    idp_options = parser.add_argument_group("identity provider (Entra ID) for Microsoft Graph")
    idp_options.add_argument(
        "--idp-port", type=int, default=0, help="run the identity provider on this port (0: none)"
    )
    idp_options.add_argument(
        "--ca-dir", type=Path, default=None, help="where the test CA writes ca.pem (for the app)"
    )
    idp_options.add_argument("--tenant", default="simulator-tenant", help="the authority's tenant")
    idp_options.add_argument("--client-id", default="", help="register the site's app: client id")
    idp_options.add_argument("--client-secret", default="", help="... its secret")
    idp_options.add_argument(
        "--redirect-uri", action="append", default=[], help="... its redirect URI (repeatable)"
    )
    args = parser.parse_args(argv)

    seed = read_seed(args.seed)
    idp = _identity_provider(args)
    sim = Simulator(
        args.host,
        args.port,
        latency=args.latency,
        exchange_version=args.version or seed.get("version", "Exchange2016"),
        auth_methods=tuple(a.strip() for a in args.auth.split(",") if a.strip()),
        identity_provider=idp,
        validate_schema_dir=args.schema_dir,
    )
    # After the identity provider exists: the seed registers cloud mailboxes as its users.
    sim.load_seed(seed)
    sim.start()
    print(f"EWS endpoint:  {sim.ews_url}")
    print(f"Autodiscover:  {sim.autodiscover_url}")
    print(f"Auth methods:  {', '.join(sim.auth_methods)}")
    if idp is not None:
        print(f"Graph:         {sim.graph_url}")
        print(f"Authority:     {idp.authority}")
        print(f"CA bundle:     {idp.ca_cert_path}")
        if args.client_id:
            print(f"Site app:      {args.client_id}  redirect {', '.join(args.redirect_uri)}")
    print("Mailboxes:")
    for spec in seed.get("mailboxes", []):
        logins = ", ".join(spec.get("logins", []))
        where = "on-premises (EWS)" if spec.get("on_premises") else "cloud (EWS, Graph)"
        print(
            f"  {spec['email']:<32} password {spec['password']!r}  {where}"
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
        if idp is not None:
            idp.stop()
    return 0
