"""``image_url`` content parts of chat messages.

An image comes as a ``data:`` URL (base64) or as a file under MODEL_DIR (``file:``
and a relative path); the service never fetches a URL from the network. The parts are
checked here, so that a malformed or remote image is a 400 naming the part; then, since
no chat model in the catalog accepts images yet (no vision-language GGUF with its
projector ships in a package), a well-formed image is a 400 saying that the model does
not accept images.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import PurePosixPath

from altlas.openai.types import ImageURL
from altlas_sdk.errors import BadRequest

_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def check_image(image: ImageURL | None, param: str) -> None:
    """Refuse an ``image_url`` part that is malformed or remote (400)."""
    if image is None:
        raise BadRequest("a content part of type image_url needs image_url", param=param)
    url = image.url
    if url.startswith("data:"):
        header, comma, payload = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or media_type not in _IMAGE_TYPES:
            raise BadRequest(
                "an image data URL must be data:<image/png|jpeg|webp|gif>;base64,<data>",
                param=f"{param}.url",
            )
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(
                "the image data URL is not valid base64", param=f"{param}.url"
            ) from None
        return
    if url.startswith("file:"):
        path = PurePosixPath(url[5:])
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise BadRequest(
                "an image file must be a relative path under MODEL_DIR (file:<path>)",
                param=f"{param}.url",
            )
        return
    raise BadRequest(
        "image URLs are not fetched: send the image as a data: URL, or as file:<path> "
        "under MODEL_DIR",
        param=f"{param}.url",
        code="image_url_not_fetched",
    )


def images_refused(model: str, param: str) -> BadRequest:
    """The 400 for an image sent to a chat model that does not see."""
    return BadRequest(
        f"model '{model}' does not accept images; send text content parts",
        param=param,
        code="model_does_not_accept_images",
    )
