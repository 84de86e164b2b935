"""The stuck-scan sweeper on both databases the gateway runs on.

``make run`` uses SQLite, which refuses a UNION of ordered querysets; the sweeper once failed
there every minute, so stuck scans were never handed back. The same sweep runs here on
PostgreSQL (the suite's database) and, in a subprocess with the embedded settings, on SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis
from django.conf import settings

from tests.support.sweeping import EXPECTED, sweep_stuck_work
from tests.support.workers import ROOT, flush_broker

EMBEDDED = """
import json, django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
from accounts.models import User
from tests.support.sweeping import sweep_stuck_work
facts = sweep_stuck_work(User.objects.create_user("sweep@example.org", None))
print(json.dumps({"vendor": connection.vendor, **facts}))
"""


def as_json(facts: dict) -> dict:
    return json.loads(json.dumps(facts))


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_hands_back_stuck_work_on_postgresql(patient):
    flush_broker()
    assert as_json(sweep_stuck_work(patient)) == as_json(EXPECTED)
    deid = redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("deid")
    assert deid == 2  # the lost scan's message and the dead chunk's


def test_the_sweeper_hands_back_stuck_work_on_sqlite_under_the_embedded_settings(tmp_path):
    data = tmp_path / "var"
    for folder in ("celery/queue", "celery/processed"):
        (data / folder).mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "GATEWAY_ENV"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="gateway.settings", DATA_DIR=str(data), PYTHONPATH=str(ROOT)
    )
    done = subprocess.run(
        # cwd: kombu's filesystem transport writes a control/ folder into the working directory.
        [sys.executable, "-c", EMBEDDED], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts.pop("vendor") == "sqlite"
    assert facts == as_json(EXPECTED)
    assert len(list((data / "celery" / "queue").iterdir())) == 2
