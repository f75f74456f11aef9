"""rnnkit: recurrent neural networks, for real and fast."""

__version__ = "0.1.0"
