"""Sharing one server with strangers: admission lanes, the bounded temp folder, bounded URL downloads and the HTTP middlewares."""
