"""The package is typed: mypy --strict (configured in pyproject.toml) finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_package_is_mypy_strict_clean() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (scripts/setup installs it)")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
