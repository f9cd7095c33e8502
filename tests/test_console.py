"""Job progress: a rich bar on a terminal, periodic plain lines in logs, nothing with --quiet."""

from __future__ import annotations

import io

from vidtrans.console import Progress


def test_plain_lines_in_a_log_at_the_interval() -> None:
    log = io.StringIO()
    with Progress(4, unit="items", description="synth", stream=log, interval=0.0) as progress:
        progress.update(1, failed=0)
        progress.update(2, failed=1)
    lines = log.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["synth: 1/4 items (25%)", "synth: 3/4 items (75%)"]
    assert lines[1].endswith("failed 1") and " items/s, " in lines[1] and " left" in lines[1]


def test_quiet_logs_and_short_jobs_print_nothing() -> None:
    for enabled, interval in ((False, 0.0), (True, 3600.0)):
        log = io.StringIO()
        with Progress(None, stream=log, enabled=enabled, interval=interval) as progress:
            progress.update(5)
        assert log.getvalue() == "" and progress.count == 5


def test_the_bar_draws_count_and_rate() -> None:
    screen = io.StringIO()
    with Progress(3, unit="frames", description="clip.mp4", stream=screen, force=True) as progress:
        progress.update(3)
    drawn = screen.getvalue()
    assert "clip.mp4" in drawn and "3/3" in drawn and "frames/s" in drawn
