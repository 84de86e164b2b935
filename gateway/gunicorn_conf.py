"""gunicorn's settings in the container (``gunicorn --config python:gateway.gunicorn_conf``).

The same serving model as ``make run`` (threads, long timeout for uploads that stream into the
vault); only the numbers come from the environment. The access log names method, path (no
query string), status and duration, as before; with ``LOG_FORMAT=json`` it is a JSON line.
"""

import os

from gateway.jsonlog import gunicorn_logconfig

bind = f"0.0.0.0:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "3"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "900"))
graceful_timeout = 30
worker_tmp_dir = os.environ.get("WEB_TMP_DIR", "/tmp")  # noqa: S108 (a tmpfs in the container)
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(L)ss"
if os.environ.get("LOG_FORMAT") == "json":
    logconfig_dict = gunicorn_logconfig()
