"""One-command reproductions of the classic results about recurrent networks.

Each experiment prints a table and writes NAME.json and NAME.png; ``quick`` runs a
small, seeded version (the one the test suite checks).
"""

from rnnkit.experiments import clipping, compare, memory, ngram_vs_rnn, translation, vanishing

EXPERIMENTS = {
    "vanishing": vanishing.run,
    "memory": memory.run,
    "clipping": clipping.run,
    "depth": compare.depth,
    "cells": compare.cells,
    "ngram-vs-rnn": ngram_vs_rnn.run,
    "translation": translation.run,
}
TIMED = ("ngram-vs-rnn", "translation")  # the ones that take --minutes
