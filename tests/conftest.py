import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROVERBS = (
    "\nThe quick brown fox jumps over the lazy dog.\n"
    "A journey of a thousand miles begins with a single step.\n"
    "To be or not to be, that is the question.\n"
    "All that glitters is not gold.\n"
    "The only thing we have to fear is fear itself.\n"
)


@pytest.fixture
def proverbs() -> str:
    return PROVERBS
