"""Progress reports and cancellation in every image operation."""

import pytest

from studio.providers.base import Cancelled
from tests.studio.imageops.support import OPERATIONS, circle_on_plain, encode


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_progress_rises_from_0_to_100(operation):
    reports: list[int] = []

    OPERATIONS[operation](encode(circle_on_plain(160, 120)[0]), reports.append)

    assert reports
    assert all(isinstance(value, int) and 0 <= value <= 100 for value in reports)
    assert reports == sorted(reports)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_cancel_raised_by_the_progress_callable_stops_the_operation(operation):
    data = encode(circle_on_plain(160, 120)[0])
    reports: list[int] = []
    OPERATIONS[operation](data, reports.append)

    for stop_at in range(len(reports)):  # at every report, the last one included
        calls = []

        def progress(percent, stop_at=stop_at, calls=calls):
            calls.append(percent)
            if len(calls) > stop_at:
                raise Cancelled()

        with pytest.raises(Cancelled):
            OPERATIONS[operation](data, progress)
        assert len(calls) == stop_at + 1  # nothing ran on to report again
