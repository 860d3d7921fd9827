"""Super-resolution from PyTorch through ONNX to ONNX Runtime: the library behind the Space."""
