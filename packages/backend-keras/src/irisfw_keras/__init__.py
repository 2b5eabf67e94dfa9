"""Keras 3 backend for irisfw: a Sequential model on TensorFlow, PyTorch or JAX."""
