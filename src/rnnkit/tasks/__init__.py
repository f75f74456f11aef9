"""One problem per module: each composes nn, data, train, decode and eval."""
