"""Named tensors on the wire, to and from numpy.

Two encodings: JSON (``{"dtype": "float32", "shape": [1, 3], "data": [[1, 2, 3]]}``;
``data`` nested or flat) and base64 ``.npy`` (``{"npy": "k05VTVBZ..."}``), which is
exact and compact for large arrays. numpy is imported inside the functions so that
importing this module stays cheap.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from altlas_sdk.errors import InvalidInput
from altlas_sdk.tasks import Tensor

if TYPE_CHECKING:
    import numpy as np

#: dtypes accepted in the JSON encoding.
JSON_DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    }
)


def to_numpy(tensor: Tensor, *, name: str = "tensor") -> np.ndarray:
    """Decode a wire :class:`~altlas_sdk.tasks.Tensor`; raises ``InvalidInput`` naming
    ``$.inputs.tensors.<name>`` when it is malformed."""
    import numpy as np

    param = f"$.inputs.tensors.{name}"
    if tensor.npy is not None:
        if tensor.data is not None or tensor.shape is not None:
            raise InvalidInput("give either 'npy' or 'dtype'/'shape'/'data', not both", param=param)
        try:
            raw = base64.b64decode(tensor.npy, validate=True)
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError) as error:
            raise InvalidInput(f"'npy' is not a base64 .npy file: {error}", param=param) from None
        if array.dtype.name not in JSON_DTYPES:
            raise InvalidInput(f"unsupported dtype '{array.dtype.name}'", param=param)
        return array
    if tensor.dtype is None or tensor.data is None:
        raise InvalidInput("a tensor needs 'dtype' and 'data' (or 'npy')", param=param)
    if tensor.dtype not in JSON_DTYPES:
        raise InvalidInput(
            f"unsupported dtype '{tensor.dtype}'; one of {sorted(JSON_DTYPES)}", param=param
        )
    try:
        array = np.asarray(tensor.data, dtype=tensor.dtype)
        if tensor.shape is not None:
            array = array.reshape(tensor.shape)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"data does not fit dtype/shape: {error}", param=param) from None
    return array


def from_numpy(array: Any, *, encoding: str = "json") -> Tensor:
    """Encode an array as a wire :class:`~altlas_sdk.tasks.Tensor`."""
    import numpy as np

    array = np.asarray(array)
    if encoding == "npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return Tensor(npy=base64.b64encode(buffer.getvalue()).decode("ascii"))
    return Tensor(dtype=array.dtype.name, shape=list(array.shape), data=array.tolist())
