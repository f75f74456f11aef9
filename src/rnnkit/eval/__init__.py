"""Scores: cross-entropy as nats, bits and perplexity."""
