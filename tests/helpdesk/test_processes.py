"""The production process set: the open-files limit its children inherit, and one Celery beat."""

import resource
import subprocess
import sys
from pathlib import Path

from helpdesk.processes import celery_worker_argv

SCRIPT = """
import resource
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from helpdesk.processes import open_files_limit_raise
open_files_limit_raise()
import subprocess, sys
child = subprocess.run([sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"],
                       capture_output=True, text=True, check=True)
print(child.stdout.strip(), hard)
"""


def test_children_get_the_hard_open_files_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    child_soft, reported_hard = (int(value) for value in result.stdout.split())
    assert reported_hard == hard
    expected = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    assert child_soft == expected
    assert child_soft > 256


def test_only_the_first_celery_worker_runs_beat():
    first = celery_worker_argv(number=1, bin_dir=Path("/venv/bin"), data_dir=Path("/data"))
    second = celery_worker_argv(number=2, bin_dir=Path("/venv/bin"), data_dir=Path("/data"))
    assert first[:4] == ["/venv/bin/celery", "-A", "helpdesk", "worker"]
    assert "--beat" in first
    assert first[first.index("--schedule") + 1] == "/data/celerybeat-schedule"
    assert "--beat" not in second
    assert second[second.index("-n") + 1] == "worker2@%h"
