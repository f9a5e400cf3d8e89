"""SAM2's memory attention with the part that reads only the frame computed once per frame.

SAM2 conditions a frame's image features on one object's memory with a stack of transformer layers:
each is a self-attention over the frame's tokens, a cross-attention to the object's memory and an MLP.
The first layer's self-attention reads the frame alone (its input is the image features plus 0.1 × their
positional encoding), so it is the same for every object tracked into that frame. :class:`FrameSharedAttention`
computes it once per frame, with the operations ``MemoryAttention.forward`` runs in the same order (the
results are equal bit for bit; ``tests/test_fn_sam2_tracker.py`` checks them against SAM2's own path),
and every object continues from there. Outside :meth:`FrameSharedAttention.frame` it is SAM2's module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn


class FrameSharedAttention(nn.Module):
    """Wraps ``sam2.modeling.memory_attention.MemoryAttention`` (takes its place in the SAM2 model)."""

    def __init__(self, attention: nn.Module) -> None:
        super().__init__()
        self.attention = attention
        self._frame: Tensor | None = None
        self._first: Tensor | None = None
        self._query_pos: Tensor | None = None

    @contextmanager
    def frame(self, feats: Sequence[Tensor], pos: Sequence[Tensor]) -> Iterator[None]:
        """Inside this block, objects tracked into the frame with these features share its first self-attention."""
        curr, curr_pos = feats[-1], pos[-1]
        output, self._query_pos = self._inputs(curr, curr_pos)
        self._first = self.attention.layers[0]._forward_sa(output, self._query_pos)
        self._frame = curr
        try:
            yield
        finally:
            self._frame = self._first = self._query_pos = None

    def _inputs(self, curr: Tensor, curr_pos: Tensor) -> tuple[Tensor, Tensor]:
        """``MemoryAttention.forward`` up to its layers: the input with its positional encoding, batch first."""
        output = curr
        if self.attention.pos_enc_at_input and curr_pos is not None:
            output = output + 0.1 * curr_pos
        if self.attention.batch_first:
            output, curr_pos = output.transpose(0, 1), curr_pos.transpose(0, 1)
        return output, curr_pos

    def forward(
        self,
        curr: Tensor | list[Tensor],
        memory: Tensor,
        curr_pos: Tensor | list[Tensor] | None = None,
        memory_pos: Tensor | None = None,
        num_obj_ptr_tokens: int = 0,
    ) -> Tensor:
        current = curr[0] if isinstance(curr, list) and len(curr) == 1 else curr
        if self._first is None or current is not self._frame:
            return self.attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens)
        attention, query_pos = self.attention, self._query_pos
        if attention.batch_first:
            memory, memory_pos = memory.transpose(0, 1), memory_pos.transpose(0, 1)
        output = self._first
        for index, layer in enumerate(attention.layers):
            if index:
                output = layer._forward_sa(output, query_pos)
            exclude = {"num_k_exclude_rope": num_obj_ptr_tokens} if _is_rope(layer.cross_attn_image) else {}
            output = layer._forward_ca(output, memory, query_pos, memory_pos, **exclude)
            hidden = layer.norm3(output)
            output = output + layer.dropout3(layer.linear2(layer.dropout(layer.activation(layer.linear1(hidden)))))
        normed = attention.norm(output)
        return normed.transpose(0, 1) if attention.batch_first else normed


def _is_rope(module: nn.Module) -> bool:
    from sam2.modeling.sam.transformer import RoPEAttention

    return isinstance(module, RoPEAttention)


def install(model: nn.Module) -> FrameSharedAttention:
    """Put a :class:`FrameSharedAttention` in place of ``model.memory_attention`` (once) and return it."""
    if not isinstance(model.memory_attention, FrameSharedAttention):
        model.memory_attention = FrameSharedAttention(model.memory_attention)
    return model.memory_attention
