"""The Table 1 verdicts' entry point, ``unlearnkit.experiments.claims.verdicts(groups, before)``.

The verdicts live in :mod:`unlearnkit.experiments.claims`; this name is kept so that code
and tests written against ``unlearnkit.experiments.claims`` keep working.
"""

from .experiments.claims import *  # noqa: F401,F403
from .experiments.claims import verdicts  # noqa: F401
