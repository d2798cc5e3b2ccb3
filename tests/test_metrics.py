from hypothesis import given
from hypothesis import strategies as st

import pytest

from core.metrics import DownsampledSeries, SmoothedSeries, validation_verdict


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


def test_smoothing_follows_slowly_and_weighs_the_first_points_alike():
    series = SmoothedSeries(8, smoothing=0.5)
    series.extend([4.0, 0.0, 0.0])
    # (0.5·4) / 0.5, (0.25·4) / 0.75, (0.125·4) / 0.875
    assert series.values() == pytest.approx([4.0, 4 / 3, 4 / 7])


def test_one_early_spike_does_not_set_the_curve():
    series = SmoothedSeries(256, smoothing=0.02)
    series.extend([10.0] + [2.0] * 49)
    assert 2.0 < series.current < 2.2  # an EMA started at the first point would still be near 5


def test_overfitting_is_named_with_its_numbers_and_what_to_try():
    verdict = validation_verdict([(2000, 2.16), (3000, 2.2), (4000, 2.4), (5000, 2.61)], training=2.16)
    assert verdict.warning and verdict.text.startswith("validation 2.61 is 0.45 above training and rising since step "
                                                       "2,000: overfitting — try")
    assert verdict.text.endswith("try dropout, weight decay, a smaller model, more text, or patience")


@pytest.mark.parametrize("points, rising, expected", [
    ([], False, ""),
    ([(500, 2.8)], False, "first validation: 2.800 at step 500"),
    ([(500, 2.8), (1000, 2.6)], False, "validation improving: best 2.600 at step 1,000"),
    ([(500, 2.8), (1000, 2.7996)], False, "validation improving: best 2.800 at step 1,000"),
    ([(500, 2.8), (1000, 2.6), (1500, 2.7)], False,
     "validation has not improved for 1 evaluation (best 2.600 at step 1,000)"),
    ([(500, 2.9), (1000, 2.8), (1500, 2.5), (2000, 2.55), (2500, 2.4), (3000, 2.45)], False,
     "validation still falling on average (best 2.400 at step 2,500)"),  # noisy, but lower than before
    ([(500, 2.4), (1000, 2.5), (1500, 2.41), (2000, 2.5), (2500, 2.42), (3000, 2.45)], False,
     "validation has not improved for 5 evaluations (best 2.400 at step 500)"),  # noise around a level
    ([(500, 2.0), (1000, 2.2), (1500, 2.3), (1600, 2.4)], False,
     "validation 2.40 rising since step 500: overfitting — try dropout, weight decay, a smaller model, more text, or "
     "patience"),
    ([(500, 2.0), (1000, 2.2), (1500, 2.3), (1600, 2.4)], True,
     "validation has not improved for 3 evaluations (best 2.000 at step 500): the training loss is rising too — "
     "the learning rate may be too high"),
    ([(500, 2.0), (1000, 2.01), (1500, 2.02), (1600, 2.03)], False,
     "validation has not improved for 3 evaluations (best 2.000 at step 500)"),  # within noise: no diagnosis
])
def test_validation_verdict_says_in_words_whether_it_still_improves(points, rising, expected):
    verdict = validation_verdict(points, rising)
    assert verdict.text == expected
    assert verdict.warning == ("overfitting" in expected or "too high" in expected)
