"""The shape of the code: the package graph in the docs is current, and modules stay small."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

LONGEST = 400
# A long module says why at its top, in a comment that starts so.
REASON = "# Longer than 400 lines because"


def test_the_drawn_package_graph_is_the_code_s() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "package_graph.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_no_module_is_long_without_saying_why() -> None:
    long = []
    for path in sorted((REPO_ROOT / "src" / "recommender").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LONGEST and not any(line.startswith(REASON) for line in lines[:20]):
            long.append(f"{path.relative_to(REPO_ROOT)}: {len(lines)} lines")
    assert not long, "modules over 400 lines without a reason at their top:\n" + "\n".join(long)
