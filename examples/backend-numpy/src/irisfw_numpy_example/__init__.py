"""Example irisfw backend: a multilayer perceptron written from scratch in NumPy."""
