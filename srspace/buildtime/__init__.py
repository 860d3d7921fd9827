"""Build time: training the networks, fitting the official SRCNN's gain, and the ONNX export that proves each file equal to PyTorch."""
