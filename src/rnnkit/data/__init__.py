"""Text in, ids out: tokenizers, corpora, and batching for truncated BPTT."""
