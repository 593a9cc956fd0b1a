"""Small language models over token streams: a Kneser-Ney n-gram and a causal transformer."""
