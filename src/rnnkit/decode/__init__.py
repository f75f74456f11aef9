"""Generation: sampling strategies, with the state carried so each token costs one step."""
