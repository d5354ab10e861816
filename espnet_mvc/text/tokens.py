"""Checks on the token ids a front end made of a text, shared by the PyTorch and ONNX
synthesizers. This module imports neither torch nor ESPnet."""

import logging
from typing import List, Sequence


def check_token_ids(text: str, ids: Sequence[int], unk_id: int,
                    unknown: Sequence[str] = ()) -> List[int]:
    """``ids`` when they can be synthesized; a warning names the symbols read as ``<unk>``.

    Args:
        text (str): The text they were read from (for the messages).
        ids (Sequence[int]): Its token ids.
        unk_id (int): The model's ``<unk>`` id.
        unknown (Sequence[str]): The symbols the model does not have (sorted).

    Raises:
        ValueError: no ids (unpronounceable text), or only ``<unk>``.
    """
    ids = list(ids)
    if not ids:
        raise ValueError(f"the text {text!r} gives no phonemes (unpronounceable?)")
    if all(i == unk_id for i in ids):
        raise ValueError(
            f"the text {text!r} contains only symbols unknown to this model"
            + (f" ({' '.join(unknown[:10])})" if unknown else "")
            + ": check the language and the model's token list"
        )
    if unknown:
        logging.warning("symbols unknown to the model, read as <unk>: %s", list(unknown[:10]))
    return ids
