"""Torch-free policy runtime: observation builder, ONNX policy, deploy loop."""
