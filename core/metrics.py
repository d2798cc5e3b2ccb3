"""Summaries of a run's history that stay the same size however long the run goes."""

from __future__ import annotations


class DownsampledSeries:
    """A whole series kept as at most `capacity` bucket means: when full, neighbouring buckets merge.

    Memory is bounded and the curve always spans the run from its first point to its last.
    """

    def __init__(self, capacity: int = 256):
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number of at least 2")
        self.capacity = capacity
        self.bucket_size = 1  # points per full bucket
        self._means: list[float] = []
        self._open_sum = 0.0
        self._open_count = 0

    def append(self, value: float) -> None:
        self._open_sum += value
        self._open_count += 1
        if self._open_count == self.bucket_size:
            self._means.append(self._open_sum / self._open_count)
            self._open_sum, self._open_count = 0.0, 0
            if len(self._means) == self.capacity:
                self._means = [(a + b) / 2 for a, b in zip(self._means[::2], self._means[1::2])]
                self.bucket_size *= 2

    def extend(self, values) -> None:
        for v in values:
            self.append(v)

    def values(self) -> list[float]:
        """Bucket means, oldest first, with the partly filled last bucket included."""
        tail = [self._open_sum / self._open_count] if self._open_count else []
        return self._means + tail

    def __len__(self) -> int:
        return len(self._means) + (1 if self._open_count else 0)


class SmoothedSeries(DownsampledSeries):
    """An exponential moving average of a series (weight `smoothing` on the newest value), downsampled."""

    def __init__(self, capacity: int = 256, smoothing: float = 0.02):
        super().__init__(capacity)
        self.smoothing = smoothing
        self.current: float | None = None

    def append(self, value: float) -> None:
        self.current = value if self.current is None else self.current + self.smoothing * (value - self.current)
        super().append(self.current)
