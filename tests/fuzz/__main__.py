"""``python -m tests.fuzz``: the fuzz suite (schemathesis over the whole API), outside the default run."""

import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    here = Path(__file__).parent
    sys.exit(pytest.main([str(here), "-o", "addopts=-ra", "-p", "no:cacheprovider", *sys.argv[1:]]))
