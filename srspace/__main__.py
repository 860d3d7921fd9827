"""python -m srspace upscale INPUT... --out DIR: the batch command (see srspace/cli.py)."""
from .cli import main

raise SystemExit(main())
