"""AverageMeter (weighted running average) and SmoothedValue (window for the log line, global average)."""

import pytest

from hrpose.utils.meters import AverageMeter, SmoothedValue


def test_average_meter_is_weighted():
    meter = AverageMeter()
    assert meter.avg == 0.0 and meter.count == 0
    meter.update(2.0, n=3)
    meter.update(6.0)
    assert meter.avg == pytest.approx(3.0) and meter.count == 4 and meter.last == 6.0


def test_smoothed_value_window_and_global_average():
    value = SmoothedValue(window=3)
    assert value.avg == value.median == value.last == 0.0
    for v in (10.0, 1.0, 2.0, 3.0):
        value.update(v)
    assert list(value.window) == [1.0, 2.0, 3.0]  # the oldest left the window
    assert value.avg == pytest.approx(2.0) and value.median == 2.0 and value.last == 3.0
    assert value.global_avg.avg == pytest.approx(4.0) and value.global_avg.count == 4


def test_median_of_an_even_window_is_the_upper_middle():
    value = SmoothedValue(window=4)
    for v in (4.0, 1.0, 3.0, 2.0):
        value.update(v)
    assert value.median == 3.0
