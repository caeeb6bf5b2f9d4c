"""What a web worker imports: the packages only batch runs, calendars or the delivery worker use
are imported where they are used, not when the app is built (docs/benchmarks.md, target 6:
each is megabytes of every API worker's memory and part of its start-up)."""

import json
import os
import subprocess
import sys
from pathlib import Path

# Each with the code that imports it when it is needed.
ON_DEMAND = {
    # Batch runs' arrays (app.matching.rules' array forms, app/dispatch/runs.py) and crisis-place
    # lookups (app/safety/places.py); claims and candidate searches use the Python forms.
    "numpy": "app/dispatch/runs.py, app/matching/rules.py (array forms), app/geo.py (array forms), "
    "app/safety/places.py",
    "scipy": "app/matching/batch.py",
    "ortools": "app/matching/assignment.py",
    "icalendar": "app/core/ical.py",
    "pywebpush": "app/webhooks/push.py (and with it aiohttp and requests)",
    "aiohttp": "app/webhooks/push.py, through pywebpush",
    "requests": "app/webhooks/push.py, through pywebpush",
    # The delivery worker's own clients: domains hand it their upkeep through app.core.periodic.
    "aiosmtplib": "app/webhooks/mail.py, in the worker",
    "standardwebhooks": "app/webhooks/delivery.py, in the worker",
    "app.webhooks.worker": "python -m app worker",
}


def test_building_the_app_imports_nothing_only_some_requests_or_the_worker_use() -> None:
    script = (
        "import json, sys\n"
        "from app.main import create_app\n"
        "create_app()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "DATABASE_URL": "sqlite+aiosqlite://"},
        cwd=Path(__file__).resolve().parents[2],  # the project, wherever pytest was started
    )
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {name: where for name, where in ON_DEMAND.items() if name in imported} == {}
