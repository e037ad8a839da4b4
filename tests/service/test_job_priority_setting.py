"""``MLP_JOB_PRIORITY``: where embedded job processes sit below the server's requests.

The default is nice 10. ``SCHED_IDLE`` (the first round's choice, kept as ``idle``) yields to
every other process on the machine: with both cores busy elsewhere (issue 18's loaded runs) a
job got almost no CPU, and waits for jobs timed out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.jobs.execute import lower_priority
from app.settings import Settings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux scheduling")


@pytest.fixture
def child() -> Iterator[int]:
    """A process of our own whose priority the test may lower."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_the_default_is_nice_10_in_the_normal_class(child: int) -> None:
    lower_priority(child, Settings().job_priority)
    assert os.sched_getscheduler(child) == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, child) == 10


def test_idle_moves_the_process_to_sched_idle(child: int) -> None:
    lower_priority(child, Settings(job_priority="idle").job_priority)
    assert os.sched_getscheduler(child) == os.SCHED_IDLE


def test_a_job_process_lowers_its_own_priority() -> None:
    """``run_job`` calls it with pid 0 before the job says ``running`` (no window at nice 0)."""
    code = (
        "import os; from app.jobs.execute import lower_priority; lower_priority(0, 10); "
        "print(os.getpriority(os.PRIO_PROCESS, 0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "10"


@pytest.mark.parametrize("value", ["0", "19", "idle"])
def test_the_setting_reads_a_nice_value_or_idle(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLP_JOB_PRIORITY", value)
    assert Settings().job_priority == (value if value == "idle" else int(value))


@pytest.mark.parametrize("value", ["-1", "20", "low"])
def test_other_values_are_refused_naming_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLP_JOB_PRIORITY", value)
    with pytest.raises(ValueError, match="job_priority"):
        Settings()
