"""Decoding uploaded images once for every vision plugin: formats, limits, orientation.

:func:`decode_image` turns the bytes of a request into an RGB Pillow image with its
EXIF orientation applied, or raises the error a client can act on: ``413`` for an
image over the byte or pixel limit (decompression bombs included), ``415`` for bytes
that are not a JPEG, PNG, WebP or BMP image, ``422`` for an empty, truncated or corrupt
one. Pillow is imported here, on first use: a plugin that decodes images depends on
``pillow`` itself, so the SDK stays light for the others.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from altlas_sdk.errors import (
    AltlasError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

#: Pillow format names of the images the vision tasks accept.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP")

#: Default limits: 20 MiB of encoded bytes, 40 megapixels decoded (about 120 MB of RGB).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

#: The ``param`` of image errors: the input field in the request body.
IMAGE_PARAM = "$.inputs.image"

# Signatures of common files that are not accepted, to name what was sent instead.
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"<svg", "an SVG document"),
    (b"<?xml", "an XML document"),
    (b"{", "JSON or text"),
)


@dataclass(frozen=True)
class ImageLimits:
    """The largest image accepted: ``max_bytes`` encoded, ``max_pixels`` decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ImageLimits:
        """Limits from a catalog entry's options (``max_image_bytes``,
        ``max_image_pixels``), defaults for those it leaves out."""
        return cls(
            max_bytes=int(options.get("max_image_bytes", DEFAULT_MAX_BYTES)),
            max_pixels=int(options.get("max_image_pixels", DEFAULT_MAX_PIXELS)),
        )


def decode_image(data: bytes, limits: ImageLimits | None = None) -> Image:
    """Decode ``data`` into an RGB image, EXIF orientation applied.

    Raises :class:`PayloadTooLarge`, :class:`UnsupportedMediaType` or
    :class:`ValidationFailed` (codes ``image_too_large``, ``unsupported_image``,
    ``empty_image``, ``corrupt_image``) with ``param`` ``$.inputs.image``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    limits = limits or ImageLimits()
    if not data:
        raise ValidationFailed(
            "the image is empty (0 bytes)", param=IMAGE_PARAM, code="empty_image"
        )
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the image is {len(data)} bytes; the limit is {limits.max_bytes}",
            param=IMAGE_PARAM,
            code="image_too_large",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        if _looks_accepted(data):
            raise _corrupt("the format's signature is there but its header is not") from None
        raise UnsupportedMediaType(
            f"the upload is {_describe(data)}, not a JPEG, PNG, WebP or BMP image",
            param=IMAGE_PARAM,
            code="unsupported_image",
        ) from None
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, limits) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise _corrupt(error) from None
    # Checked before decoding: the header's size is known without touching the pixels.
    if image.width * image.height > limits.max_pixels:
        raise _too_many_pixels(image, limits)
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return image if image.mode == "RGB" else _to_rgb(image)
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, limits) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise _corrupt(error) from None


def image_pixels(data: bytes) -> int:
    """How many pixels ``data`` decodes to, read from its header without decoding it;
    0 when it is not an image Pillow can read (decoding it reports why)."""
    try:
        from PIL import Image
    except ImportError:
        return 0
    try:
        with Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as image:
            return image.width * image.height
    except Exception:  # noqa: BLE001 - every failure is reported by decode_image
        return 0


def decode_batch(
    inputs: Sequence[Any], limits: ImageLimits | None = None
) -> tuple[list[Any], dict[int, Image]]:
    """Decode the ``image`` of each input of a batch: returns one result slot per input
    (the error of an image that failed, else ``None`` for the caller to fill) and the
    decoded images by input index. A bad image fails only its own slot."""
    results: list[Any] = [None] * len(inputs)
    images: dict[int, Image] = {}
    for index, item in enumerate(inputs):
        try:
            images[index] = decode_image(item.image, limits)
        except AltlasError as error:
            results[index] = error
    return results, images


def to_array(image: Image) -> np.ndarray:
    """The image as a ``(height, width, 3)`` uint8 RGB array."""
    import numpy as np

    return np.asarray(image, dtype=np.uint8)


def encode_png(image: Image) -> bytes:
    """PNG bytes of ``image``."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _to_rgb(image: Image) -> Image:
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, as a viewer shows them, not black.
        rgba = image.convert("RGBA")
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip at 255.
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        peak = values.max() or 1.0
        grey = PILImage.fromarray((values * (255.0 / peak)).astype(np.uint8))
        return grey.convert("RGB")
    return image.convert("RGB")


def _describe(data: bytes) -> str:
    head = data[:16].lstrip()
    for signature, name in _KNOWN_OTHERS:
        if head.startswith(signature):
            return name
    return "not a recognised image"


def _looks_accepted(data: bytes) -> bool:
    """Whether ``data`` starts like an accepted format (so it is damaged, not foreign)."""
    return (
        data[:3] == b"\xff\xd8\xff"
        or data[:8] == b"\x89PNG\r\n\x1a\n"
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
        or data[:2] == b"BM"
    )


def _corrupt(error: BaseException | str) -> ValidationFailed:
    return ValidationFailed(
        f"the image is truncated or corrupt: {error}", param=IMAGE_PARAM, code="corrupt_image"
    )


def _too_many_pixels(image: Image | None, limits: ImageLimits) -> PayloadTooLarge:
    size = f"{image.width}x{image.height} pixels" if image is not None else "too many pixels"
    return PayloadTooLarge(
        f"the image is {size}; the limit is {limits.max_pixels} pixels",
        param=IMAGE_PARAM,
        code="image_too_large",
    )
