"""Pushing runs to the Hugging Face Hub: weights, TensorBoard traces and a model card."""
