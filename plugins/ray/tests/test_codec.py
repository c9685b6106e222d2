"""How values and errors cross between the API server and an actor (no cluster needed:
the crossing is plain data, pickled as Ray pickles it)."""

from __future__ import annotations

import pickle

import msgspec
import numpy as np
import pytest

from altlas_ray.codec import pack, pack_error, rebuild_error, unpack, unpack_result
from altlas_sdk.errors import AltlasError, InvalidInput, ModelCrashed, Overloaded
from altlas_sdk.tasks import ChatInput, ChatMessage, EmbeddingOutput, Usage


def cross(packed: tuple) -> tuple:
    """What arrives on the other side of Ray: a pickled round trip."""
    return pickle.loads(pickle.dumps(packed, protocol=5))


def test_a_struct_crosses_as_msgpack_bytes_and_comes_back_equal():
    value = ChatInput(messages=[ChatMessage(role="user", content="héllo")])
    packed = pack(value)
    assert packed == ("s", "altlas_sdk.tasks:ChatInput", packed[2])
    assert isinstance(packed[2], bytes)
    assert unpack(cross(packed)) == value


def test_nested_structs_and_optional_fields_survive():
    value = EmbeddingOutput(embeddings=[[0.5, -1.25]], dimensions=2, usage=Usage(prompt_tokens=3))
    assert unpack(cross(pack(value))) == value


class Blob(msgspec.Struct):
    data: bytes
    array: object = None


def test_a_struct_class_no_import_path_reaches_crosses_as_itself():
    class Local(msgspec.Struct):
        text: str

    # Ray's cloudpickle takes the object, class and all (plain pickle cannot: no trip).
    packed = pack(Local(text="x"))
    assert packed[0] == "v" and unpack(packed) == Local(text="x")


def test_bytes_stay_bytes_and_what_msgpack_cannot_hold_crosses_as_itself():
    assert unpack(cross(pack(Blob(data=b"\x00\xff")))) == Blob(data=b"\x00\xff")
    with_array = Blob(data=b"", array=np.arange(6, dtype=np.float32).reshape(2, 3))
    packed = pack(with_array)
    assert packed[0] == "v"
    back = unpack(cross(packed))
    assert np.array_equal(back.array, with_array.array) and back.array.dtype == np.float32
    assert unpack(cross(pack({"not": "a struct"}))) == {"not": "a struct"}


@pytest.mark.parametrize(
    "error",
    [
        InvalidInput("text must not be empty", param="$.inputs.text"),
        ModelCrashed("m", "killed by signal 9"),
        Overloaded("busy", retry_after=3),
        RuntimeError("a backend bug"),
    ],
)
def test_errors_come_back_of_their_own_class_with_their_attributes(error):
    with pytest.raises(type(error)) as raised:
        unpack(cross(pack_error(error)))
    back = raised.value
    assert str(back) == str(error) and vars(back) == vars(error)
    if isinstance(error, AltlasError):
        assert (back.status, back.code, back.param, back.headers) == (
            error.status,
            error.code,
            error.param,
            error.headers,
        )


def test_a_batch_slot_holding_an_error_returns_it_instead_of_raising():
    error = InvalidInput("bad", param="$.inputs[1]")
    back = unpack_result(cross(pack_error(error)))
    assert isinstance(back, InvalidInput) and back.param == "$.inputs[1]"
    assert isinstance(rebuild_error(pack_error(KeyError("k"))), KeyError)
