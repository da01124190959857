"""The heartbeat of long work without a progress bar (bayescale.progress)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bayescale.progress import elapsed_text, heartbeat


def _beats(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "so far" in r.getMessage()]


def _heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bayescale-heartbeat"]


def test_beats_double_their_wait_and_stop_with_the_block(caplog):
    caplog.set_level(logging.INFO, logger="bayescale")
    with heartbeat("sampling", first=0.2):
        time.sleep(1.1)  # beats due at 0.2, 0.4, 0.8 s; the next (1.6 s) never comes
    beats = _beats(caplog)
    # a late thread skips the beats it missed: at most 3 (fewer on a very loaded machine)
    assert 1 <= len(beats) <= 3 and all(m.startswith("sampling: ") for m in beats)
    time.sleep(0.3)
    assert _beats(caplog) == beats and not _heartbeat_threads()


def test_a_stalled_heartbeat_logs_once_not_a_burst(caplog):
    readings = iter([0.0])  # the start; every later reading 50 s late (a suspended process)

    def clock() -> float:
        return next(readings, time.perf_counter() - origin + 50.0)

    origin = time.perf_counter()
    caplog.set_level(logging.INFO, logger="bayescale")
    with heartbeat("sampling", first=0.01, clock=clock):
        time.sleep(0.3)
    # beats due at 0.01, 0.02, ..., 40.96 s all passed: one line, the next due at 81.92 s
    assert _beats(caplog) == ["sampling: 50 s so far"]


def test_disabled_or_short_work_logs_nothing(caplog):
    caplog.set_level(logging.INFO, logger="bayescale")
    with heartbeat("sampling", enabled=False, first=0.01):
        time.sleep(0.1)
    with heartbeat("sampling", first=5.0):
        pass
    assert _beats(caplog) == [] and not _heartbeat_threads()


def test_an_error_in_the_block_still_stops_the_heartbeat():
    with pytest.raises(KeyboardInterrupt), heartbeat("sampling", first=0.05):
        raise KeyboardInterrupt
    assert not _heartbeat_threads()


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.2, "4 s"), (59.4, "59 s"), (65, "1 min 05 s"), (422, "7 min 02 s")]
)
def test_elapsed_text(seconds, text):
    assert elapsed_text(seconds) == text
