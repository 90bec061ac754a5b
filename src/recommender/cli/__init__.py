"""The `recommender` command line: everything the API does, and the work around it."""

from __future__ import annotations

# Importing a command module registers its commands on `app`.
from recommender.cli import catalog as _catalog  # noqa: F401
from recommender.cli import db as _db  # noqa: F401
from recommender.cli import engines as _engines  # noqa: F401
from recommender.cli import evaluate as _evaluate  # noqa: F401
from recommender.cli import experiments as _experiments  # noqa: F401
from recommender.cli import jobs as _jobs  # noqa: F401
from recommender.cli import models as _models  # noqa: F401
from recommender.cli import recommend as _recommend  # noqa: F401
from recommender.cli import serve as _serve  # noqa: F401
from recommender.cli import simulate as _simulate  # noqa: F401
from recommender.cli import subscribe as _subscribe  # noqa: F401
from recommender.cli import synth as _synth  # noqa: F401
from recommender.cli.app import app
from recommender.cli.output import report_error
from recommender.config_errors import InvalidSettingsError


def main() -> None:
    try:
        app()
    except InvalidSettingsError as error:
        # A mistyped variable is the operator's to fix: one line, no traceback.
        report_error(error)
        raise SystemExit(2) from None
