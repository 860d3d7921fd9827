"""The page's side: the browser engine's config, the static edition's site build, its local server, and the browser modules (ES modules in browser/)."""
