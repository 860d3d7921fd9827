"""What a request gets: upscaling with the models loaded once, the quality check, the engine comparison, the batch command and its Ray cluster."""
