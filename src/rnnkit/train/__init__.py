"""Training: the loop, learning-rate schedules, and checkpoint I/O."""
