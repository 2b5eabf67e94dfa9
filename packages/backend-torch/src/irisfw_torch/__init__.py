"""PyTorch backend for irisfw: a torch.nn classifier driven by a ModelSpec."""
