"""Screenshots of the main pages at desktop and phone widths, into ./screenshots/.

`make screenshots` runs this. It starts nothing by hand: tests/browser/test_screenshots.py
seeds a demo-like world in a throwaway test database, with the EWS simulator and Django's
live server started by the test fixtures, and photographs each page with Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    env = {**os.environ, "SCREENSHOTS": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/browser/test_screenshots.py",
        "-q",
        "-p",
        "no:cacheprovider",
        *sys.argv[1:],
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
    shots = sorted((ROOT / "screenshots").glob("*.png"))
    if result.returncode == 0:
        print(f"{len(shots)} screenshots in {ROOT / 'screenshots'}:")
        for shot in shots:
            print(f"  {shot.name}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
