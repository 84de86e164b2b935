"""gunicorn's settings for the web process (``gunicorn -c python:gateway.gunicorn_conf``),
used by the container and by ``make run``.

gevent workers (``gateway.serving``): slow or idle clients wait as greenlets instead of holding
a thread each, with a cap on connections per client address and a timeout on a silent socket.
``timeout`` is the worker's heartbeat here (a worker stuck in CPU for that long is restarted),
not a limit on a request: a large upload may stream for as long as it keeps sending.

The access log names method, path (no query string), status and duration; with
``LOG_FORMAT=json`` it is a JSON line. No route carries a secret in its path (sign-in, reset and
confirmation use codes typed into forms; invitations are accepted by a code too).
"""

import os
import resource

from gateway.jsonlog import gunicorn_logconfig

# gevent workers hold one file descriptor per open connection: take the whole hard limit the
# host allows (a container's soft limit is often 1024) rather than ask for a fixed number that a
# host may refuse.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _hard != resource.RLIM_INFINITY and _soft < _hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))

bind = f"0.0.0.0:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "3"))
worker_class = "gateway.serving.CappedGeventWorker"
# Connections one worker holds at once (idle, slow and busy together).
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "2000"))
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Header limits stay at gunicorn's defaults; a body is read by Django as it arrives.
worker_tmp_dir = os.environ.get("WEB_TMP_DIR", "/tmp")  # noqa: S108 (a tmpfs in the container)
# gunicorn's control socket would be a file in the home folder, outside DATA_DIR.
control_socket_disable = True
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(L)ss"
if os.environ.get("LOG_FORMAT") == "json":
    logconfig_dict = gunicorn_logconfig()
# Every greenlet would keep its own database connection open; close each at the end of its
# request instead, so connections to PostgreSQL follow requests in flight, not clients.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
