"""Run the whole suite several times on a fresh clone while busy loops load every core.

Issue 18's flakiness check: a test that passes only on a quiet machine waits on time, not on an
event. This script clones the repository (the committed ``HEAD``, as CI does), starts one busy
loop per core (each stops by itself at the deadline, and is killed at the end), runs ``make test``
``--runs`` times in the clone and prints, per run, the outcome and the tests that failed (read
from pytest's JUnit XML), so a flaky test is named rather than guessed at.

    python scripts/loaded_suite.py --runs 3            # ~35 min on 2 cores
    python scripts/loaded_suite.py --runs 1 --keep     # keep the clone to look at
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

log = logging.getLogger("loaded_suite")

REPO = Path(__file__).resolve().parent.parent


def busy_loop(deadline: float) -> None:
    """Spin until ``deadline`` (a ``time.time()``), so a forgotten loop still ends."""
    x = 0
    while time.time() < deadline:
        for _ in range(100_000):
            x += 1


def failed_tests(junit: Path) -> list[str]:
    """``classname::name`` of every failed or errored test case in a JUnit XML file."""
    if not junit.exists():
        return ["<no junit report: the run stopped before pytest wrote one>"]
    names = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            names.append(f"{case.get('classname')}::{case.get('name')}")
    return names


def run_suite(clone: Path, index: int) -> tuple[int, float, list[str]]:
    """One ``make test`` in ``clone``; returns (exit status, seconds, failed tests)."""
    junit = clone / f"junit-{index}.xml"
    env = dict(os.environ, CI="true", PYTEST_ADDOPTS=f"--junitxml={junit}")
    start = time.monotonic()
    with (clone / f"run-{index}.log").open("wb") as out:
        status = subprocess.call(["make", "test"], cwd=clone, env=env, stdout=out, stderr=out)
    seconds = time.monotonic() - start
    return status, seconds, failed_tests(junit) if status else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loops", type=int, default=os.cpu_count() or 2, help="busy loops")
    parser.add_argument("--hours", type=float, default=3.0, help="busy loops stop after this")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its logs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    work = Path(tempfile.mkdtemp(prefix="loaded-suite-"))
    clone = work / REPO.name
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # Tests that read the shared contract documents find them beside the checkout, as in CI.
    shared = REPO.parent / "shared"
    if shared.is_dir():
        shutil.copytree(shared, work / "shared")
    deadline = time.time() + args.hours * 3600
    loops = [multiprocessing.Process(target=busy_loop, args=(deadline,)) for _ in range(args.loops)]
    for loop in loops:
        loop.start()
    results = []
    try:
        for index in range(1, args.runs + 1):
            status, seconds, failed = run_suite(clone, index)
            results.append(status)
            log.info("run %d: %s in %.0f s", index, "passed" if status == 0 else "FAILED", seconds)
            for name in failed:
                log.info("    failed: %s", name)
    finally:
        for loop in loops:
            loop.kill()
        if args.keep:
            log.info("clone and logs kept in %s", clone)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(status == 0 for status in results) else 1


if __name__ == "__main__":
    sys.exit(main())
