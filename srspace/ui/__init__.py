"""The Gradio app, one module per tab.

- ``shell``: the page (header, tabs) around them; ``build_demo`` is the entry point;
- ``upscale_tab``, ``compare_tab``, ``browser_tab``, ``models_tab``: each tab's handlers, plain
  module-level functions taking the ``Server`` first, and its layout (``build``);
- ``common``: what the tabs share (the Server, binding handlers, progress, weights choice);
- ``components``: Gradio inputs that hand values to our checks as sent;
- ``modelinfo``, ``graphview``: what the Models tab says of each model and its graph's picture.

The work itself (checking a request, upscaling, comparing, writing result files) is the
library's: ``srspace.service.upscaler``, ``srspace.service.engine_compare``, ``srspace.service.quality_check``, ``srspace.imaging.results``.
"""
from .shell import build_demo

__all__ = ["build_demo"]
