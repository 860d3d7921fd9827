"""Pixels in and out: decoding image files with clear errors, colour conversion, the PNG encoder, result files and their names, image-quality figures."""
