"""What every tab shares: the server's state as one object, binding a module-level handler to
it for Gradio, driving a use case's steps with progress, the lanes' waiting message, request
folders in Gradio's cache, and the weights choice with its one-line explanation."""
from __future__ import annotations

import functools
import inspect
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from ..serving.admission import Lanes, Ticket
from ..serving.downloads import UrlFetcher
from ..contract import BEST_WEIGHTS, EXAMPLES_DIR, GALLERY, SMALL_RESULT_PIXELS, WEIGHT_SETS
from ..errors import ImageInputError
from ..service.upscaler import Upscaler
from ..web.texts import WEIGHT_LABELS
from .components import Choice, UploadedImage
from ..serving.http import client_address


@dataclass(frozen=True)
class Server:
    """What the handlers of every tab work with: the models, the admission lanes, the models folder,
    and how image URLs are fetched."""

    upscaler: Upscaler
    lanes: Lanes
    models_dir: Path
    fetcher: UrlFetcher = field(default_factory=UrlFetcher)

    def image_input(self, **kwargs) -> UploadedImage:
        """A tab's image input: an upload, the clipboard, or (API, MCP) a URL fetched by ``fetcher``."""
        image = UploadedImage(label="Image", type="filepath", sources=["upload", "clipboard"], **kwargs)
        image.fetcher = self.fetcher
        return image

    @property
    def weight_line(self) -> str:
        """The one visitor-facing line about weights, where they are chosen."""
        missing = [w for w in WEIGHT_SETS if w not in self.upscaler.engines]
        line = ("**Best measured** runs, for each model and factor, the weights with the larger gain on held-out "
                "photographs, and for a JPEG input the weights trained on JPEGs; the others are this project's own "
                "training, its training for JPEG photographs and the tutorials' original checkpoints.")
        if missing:
            line += f" This server has no {' or '.join(missing)} weights (details in the Models tab)."
        return line


WEIGHT_CHOICES = {BEST_WEIGHTS: "Best measured for the model", **WEIGHT_LABELS}


def weights_input(server: Server, elem_id: str | None = None) -> Choice:
    """The weights choice of a tab: best, and the sets this server has; one line under it."""
    choices = [(label, key) for key, label in WEIGHT_CHOICES.items() if key == BEST_WEIGHTS or key in server.upscaler.engines]
    dropdown = Choice(choices, value=BEST_WEIGHTS, label="Weights", elem_id=elem_id)
    gr.Markdown(server.weight_line, elem_classes=["weights-help"])
    return dropdown


# The Compare and Browser tabs set a model with each of their first gallery rows: they compare the
# engines of one model, and each row shows another network.
ENGINE_GALLERY_MODELS = ("srcnn_dynamic", "espcn_x3", "srcnn_x3")


def examples(count: int | None = None, with_models: bool = False) -> list[list]:
    """The gallery's rows whose files are present: (image path, factor), the model staying the
    visitor's; ``with_models``: (image path, model, factor) for the engine-comparing tabs."""
    rows = [[str(EXAMPLES_DIR / name), factor] for name, factor, _ in GALLERY if (EXAMPLES_DIR / name).exists()]
    if with_models:
        rows = [[path, key, factor] for (path, factor), key in zip(rows, ENGINE_GALLERY_MODELS)]
    return rows[:count]


def _user_error(exc: ImageInputError) -> gr.Error:
    """A refusal as Gradio shows it to the page and to API clients: the message, no traceback
    (the request log has its one line)."""
    return gr.Error(str(exc), title="Cannot process this image", print_exception=False)


def bind(handler, server: Server):
    """``handler(server, ...)``, a module-level ``handle_*`` function, as the event function Gradio calls:
    ``server`` bound, the rest of the signature and the docstring (the API page's and MCP's
    text) kept, and refusals turned into messages."""
    signature = inspect.signature(handler)
    params = list(signature.parameters.values())[1:]
    if inspect.isgeneratorfunction(handler):
        def bound(*args, **kwargs):
            try:
                return (yield from handler(server, *args, **kwargs))
            except ImageInputError as exc:
                raise _user_error(exc) from exc
    else:
        def bound(*args, **kwargs):
            try:
                return handler(server, *args, **kwargs)
            except ImageInputError as exc:
                raise _user_error(exc) from exc
    functools.update_wrapper(bound, handler, updated=())  # name, docstring, annotations (gr.Request, gr.Progress)
    # the public name (the MCP tool's, like the API's): ``handle_upscale`` is "upscale"
    bound.__name__ = bound.__qualname__ = handler.__name__.removeprefix("handle_")
    bound.__signature__ = signature.replace(parameters=params)  # what Gradio and the API page read, not __wrapped__'s
    return bound


def client_of(request: gr.Request | None) -> str | None:
    """Who is asking, for the lanes' per-client bound (``serving.client_address``); None when called directly."""
    if request is None:
        return None
    return client_address(request.headers.get("x-forwarded-for"), request.client.host if request.client else None)


def stepping(steps, progress: gr.Progress, describe, outputs: int):
    """Drive a use case's steps: progress after each, and a yield to Gradio between tiles, where a
    cancelled or abandoned request stops (Gradio closes the generator there); its result."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as stop:
            return stop.value
        progress(done / total, desc=describe(done, total))
        yield (gr.skip(),) * outputs


def wait_for_lane(ticket: Ticket, progress: gr.Progress, outputs: int):
    """Wait for ``ticket``'s turn, shown as progress, with a yield to Gradio every half second,
    where a cancelled or abandoned request stops."""
    while not ticket.wait(0.5):
        progress(0.0, desc="waiting for a free lane")
        yield (gr.skip(),) * outputs


def waiting_line(ticket: Ticket) -> str:
    """Where a waiting request stands, in words."""
    return (f"⏳ Waiting for the {ticket.lane}-image lane: {ticket.waiting_ahead} request(s) ahead of yours. Small images "
            f"have a lane of their own (results up to {SMALL_RESULT_PIXELS / 1e6:.0f} MP) and are not held up by large ones.")


# The names Gradio gives an upload that came without one: "file.png" (a data: URL), or its temp
# file's own, "tmp" and random letters without a suffix (a multipart part with an empty name).
GRADIO_MADE_UP = re.compile(r"file(\.\w+)?|tmp[a-z0-9_]{6,}")


def upload_name(path: Path) -> str:
    """The name a visitor gave the uploaded file; "" when Gradio made one up, so results say "image"."""
    name = Path(path).name
    return "" if GRADIO_MADE_UP.fullmatch(name) else name


def cache_folder(kind: str) -> Path:
    """A new folder for one request's files in Gradio's cache, where they are served, then aged out."""
    folder = Path(get_upload_folder()) / kind / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder
