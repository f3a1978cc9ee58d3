"""gunicorn's settings for every way the app is served: the Procfile, docker-compose.yml, the
Dockerfile, deploy/systemd/scheduler-web.service and the HTTP benchmarks in bench/ all run
``gunicorn -c gunicorn.conf.py scheduler_site.wsgi``, so the serving model (worker class,
workers, threads) is decided here and nowhere else.

It sits at the top level, beside manage.py, because that is every deployment's working
directory and gunicorn's default config path (``./gunicorn.conf.py``): even a bare
``gunicorn scheduler_site.wsgi`` started there gets these settings, not gunicorn's own sync
defaults. It reads only the environment, so a deployment tunes it without editing it:

- ``WEB_CONCURRENCY``: worker processes (default 2);
- ``WEB_THREADS``: threads per worker (default 8 for gthread, 1 otherwise);
- ``WORKER_CLASS``: ``gthread`` (default) or ``sync``;
- ``PORT`` (default 8000): listens on 0.0.0.0:PORT unless ``--bind`` says otherwise;
- ``FORWARDED_ALLOW_IPS``: whose X-Forwarded-* gunicorn believes (default 127.0.0.1,::1);
- ``ACCESS_LOG``: where the access log goes (default ``-``, standard output; empty: none).

Why gthread, 2 workers x 8 threads: a request spends most of its time waiting on Exchange
(a booking re-checks free/busy and then writes; an uncached slots answer is one or more
EWS/Graph round trips, 100-500 ms on a real server), and a waiting thread releases the
interpreter lock, so threads overlap those waits where a sync worker sits idle. Eight per
worker matches the EWS sessions a process keeps per connection (max_connections=8 in
calendars/backends/ews.py): more threads would queue for a session anyway. Measured side by
side with ``bench/load_test.py --models`` (the README's "Serving model" has the figures).
ASGI with async views would need the views rewritten; not done.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_WORKER_CLASS = "gthread"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8


def serving_model(environ: Mapping[str, str]) -> tuple[str, int, int]:
    """(worker class, workers, threads) as gunicorn will run them for this environment.
    bench/_servers.py calls it too, to print the model it starts (gunicorn ignores names in
    a config file that are not its settings)."""
    worker_class = environ.get("WORKER_CLASS", "").strip() or DEFAULT_WORKER_CLASS
    workers = int(environ.get("WEB_CONCURRENCY", "").strip() or DEFAULT_WORKERS)
    default_threads = DEFAULT_THREADS if worker_class == "gthread" else 1
    threads = int(environ.get("WEB_THREADS", "").strip() or default_threads)
    if worker_class == "sync" and threads > 1:
        # What gunicorn does itself: sync with threads is gthread. Said here so that the
        # model a benchmark prints is the one that runs.
        worker_class = "gthread"
    return worker_class, workers, threads


worker_class, workers, threads = serving_model(os.environ)
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("ACCESS_LOG", "-") or None
