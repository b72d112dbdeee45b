from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    # This hook sees every collected test of the session: mark only the ones in this folder.
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.bench)
