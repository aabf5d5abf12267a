"""Torch threads follow the cores other work leaves free (two threads on a busy core ran up to 10x slower)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lamdagent import hardware


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_a_busy_core_is_seen_and_left_alone(monkeypatch):
    monkeypatch.delenv("LAMDAGENT_THREADS", raising=False)
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 5: pass"])
    try:
        time.sleep(0.5)
        busy = hardware.busy_cores(0.5)
        assert busy >= 0.6, busy  # the spinner keeps about one core busy
        monkeypatch.setattr(hardware, "cpu_cores", lambda: 2)
        monkeypatch.setattr(hardware, "busy_cores", lambda sample_s=0.25: 1.0)
        assert hardware.set_threads() == 1
        monkeypatch.setattr(hardware, "busy_cores", lambda sample_s=0.25: 0.1)
        assert hardware.set_threads() == 2
        monkeypatch.setattr(hardware, "busy_cores", lambda sample_s=0.25: 3.0)
        assert hardware.set_threads() == 1  # never fewer than one
        monkeypatch.setenv("LAMDAGENT_THREADS", "2")
        monkeypatch.setattr(hardware, "cpu_cores", lambda: 2)
        assert hardware.set_threads() == 2  # an explicit count wins
    finally:
        spinner.kill()
        spinner.wait()
