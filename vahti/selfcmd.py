"""How vahti starts another vahti process (the daemon's crawls, the demo's steps).

`python -P -m vahti ...` with this interpreter: without `-P`, `python -m` puts
the working directory first on sys.path, so a folder that holds a `vahti/`
(a checkout, a copy, anything) would be imported instead of the installed
package. `-P` (Python 3.11) leaves the working directory out; PYTHONPATH and
the installed packages are searched as usual.
"""

from __future__ import annotations

import sys


def vahti_command(*args: str) -> list[str]:
    """The argv of `vahti ARGS` run by this interpreter, immune to the working directory."""
    return [sys.executable, "-P", "-m", "vahti", *args]
