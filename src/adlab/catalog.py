"""The one list of experiments: importing this module imports every lecture's experiments.

core/ never imports a lecture package; the CLI reads the registry through this module, so
an experiment is never missing because its module was not imported.
"""

import adlab.foundations.experiments  # noqa: F401  lecture 2
import adlab.gans.experiments  # noqa: F401  lecture 9
import adlab.language.experiments  # noqa: F401  lecture 7
import adlab.sequences.experiments  # noqa: F401  lecture 6
import adlab.vision.experiments  # noqa: F401  lecture 3
