"""The demo server behind the emulator, plain and with each fault that reframes payload parts."""

from __future__ import annotations

import pytest
from local_sagemaker import emulator_for


@pytest.fixture(scope="module")
def emulators(demo_server):
    with (
        emulator_for(demo_server.url) as plain,
        emulator_for(demo_server.url, fault="split") as split,
        emulator_for(demo_server.url, fault="merge") as merge,
    ):
        yield {"none": plain, "split": split, "merge": merge}
