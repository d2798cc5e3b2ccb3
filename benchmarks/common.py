"""What the benchmark scripts share."""


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"
