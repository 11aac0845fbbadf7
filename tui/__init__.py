"""The Textual app. Imports no jax, flax, optax, transformers, datasets or torch."""
