"""The Gradio app, one module per tab.

- ``shell``: the page (header, tabs) around them; ``build_demo`` is the entry point;
- ``upscale_tab``, ``compare_tab``, ``browser_tab``, ``models_tab``: each tab's handlers, plain
  module-level functions taking the ``Server`` first, and its layout (``build``);
- ``common``: what the tabs share (the Server, binding handlers, progress, weights choice);
- ``components``: Gradio inputs that hand values to our checks as sent;
- ``serving``: the request log line and the nosniff header.

The work itself (checking a request, upscaling, comparing, writing result files) is the
library's: ``srspace.upscaler``, ``srspace.engine_compare``, ``srspace.quality_check``, ``srspace.results``.
"""
from .shell import build_demo

__all__ = ["build_demo"]
