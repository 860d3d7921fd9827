"""The networks as pure modules, their weights (official checkpoints, bundled files) and the models folder's manifest: what every other layer builds on."""
