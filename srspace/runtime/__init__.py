"""Running a network on an image: the inference engines (ONNX Runtime, PyTorch), seamless tiling, the pipeline, and a request checked once."""
