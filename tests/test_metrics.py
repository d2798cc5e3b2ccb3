from hypothesis import given
from hypothesis import strategies as st

from core.metrics import DownsampledSeries, SmoothedSeries


@given(st.lists(st.floats(-1e6, 1e6), max_size=3000), st.sampled_from([2, 4, 16, 256]))
def test_downsampled_series_is_bounded_and_keeps_the_mean(values, capacity):
    series = DownsampledSeries(capacity)
    series.extend(values)
    assert len(series) <= capacity
    if values:
        # bucket means weighted by their sizes give back the overall mean
        full = series.values()[: len(series._means)]
        total = sum(full) * series.bucket_size + series._open_sum
        assert abs(total / len(values) - sum(values) / len(values)) <= 1e-6 * max(1.0, max(map(abs, values)))


def test_short_series_are_kept_as_they_are():
    series = DownsampledSeries(8)
    series.extend([3.0, 1.0, 2.0])
    assert series.values() == [3.0, 1.0, 2.0]


def test_smoothing_follows_slowly():
    series = SmoothedSeries(8, smoothing=0.5)
    series.extend([4.0, 0.0, 0.0])
    assert series.values() == [4.0, 2.0, 1.0]
