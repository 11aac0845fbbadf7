"""The startup breakdown's first phase: the interpreter's start and imports."""

import subprocess
import sys
import time

AGE_AT_START = "from tpudeck.core.train.startup import Startup; print(Startup().seconds['imports'])"


def test_the_imports_phase_is_no_longer_than_the_process_has_lived():
    began = time.monotonic()
    printed = subprocess.run([sys.executable, "-c", AGE_AT_START], capture_output=True,
                             text=True, check=True)  # fmt: skip
    lived = time.monotonic() - began
    imports = float(printed.stdout)
    # Clock ticks are 10 ms; a boot time in whole seconds used to add up to one more.
    assert 0 < imports <= lived + 0.02
