"""What a refusal is: the one exception whose message was written for the user, the messages the
server and the page both show (one text for both sides), and how values a user sent are quoted in
messages and log lines (cut short)."""
from __future__ import annotations

from pathlib import Path

NO_IMAGE = "No image was received. Upload an image file (PNG, JPEG, WebP, ...)."

# What the server and the in-browser page say about the same input, in the same words: the page gets
# these templates in its config (web.config) and fills them as ``say`` does (browser/decode.js's
# say). Each side formats the values (sizes, factors as written, MP to the stated decimals).
MESSAGES = {
    "noImage": NO_IMAGE,
    "emptyFile": "'{name}' is an empty file (0 bytes). Upload a real image.",
    "notAnImage": "'{name}' is not an image that can be read (whatever its name says). Upload a PNG, JPEG, WebP, BMP or TIFF.",
    "damaged": "'{name}' is damaged or truncated and cannot be decoded ({why}).",
    "inputTooLarge": "'{name}' is {width}x{height}; the limit is {limit} MP. Downscale it first.",
    "tooSmall": "The image is {width}x{height} pixels; it must be at least {side}x{side}.",
    "outputTooLarge": "{width}x{height} at x{factor} would be {outWidth}x{outHeight} = {megapixels} MP, over the "
                      "{limit} MP limit. Choose a smaller factor or a smaller image.",
    "factorNotNumber": "The factor must be a number between {low} and {high}, not {value}.",
    "factorOutOfRange": "The factor must be between {low} and {high}; got {value}.",
    "factorRounded": "Factor {value} rounded to {rounded} (steps of {step}).",
    "unknownModel": "Unknown model {model} here; choose one of: {choices}.",
    "animated": "Animated or multi-page image: only the first frame was upscaled.",
    "orientation": "EXIF orientation {orientation} applied.",
    "alphaKept": "Transparency kept: the alpha channel was upscaled bicubically.",
    "resized": "{model} upscales x{native} by the network; the result was then resized bicubically to x{factor}.",
}


def say(message: str, /, **values) -> str:
    """The message named ``message`` in MESSAGES with its ``{placeholders}`` filled."""
    return MESSAGES[message].format(**values)


class ImageInputError(ValueError):
    """The user's image or settings cannot be processed; the message says why and what to do.

    Only this exception counts as a refusal (one log line, the message shown as it is); any
    other exception is a bug and is logged with its traceback."""


def number_text(value: float) -> str:
    """A number as JavaScript's String() writes it (shortest round trip, no ".0" on a whole
    number), so a factor reads the same in the server's messages and the page's."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def shorten(value, limit: int = 40) -> str:
    """A user-supplied value as it may appear in a message or a log line: repr'd and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten_name(path: Path, limit: int = 60) -> str:
    """A file name as it may appear in a message: cut short."""
    name = Path(path).name
    return name if len(name) <= limit else name[: limit - 1] + "…"
