"""SmoothQuant (Xiao et al., 2023) for the FFN output projections of an all-int8 export.

The input of each layer's second FFN projection (the GELU output) has a few channels whose
values reach 30-50 times the median channel's (in all-mpnet-base-v2's middle layers); dynamic
int8 quantisation gives the whole tensor one scale per batch, so those channels flatten the rest,
and on the default model the export moved ``against`` toward ``neutral`` (BENCHMARKS.md). The
export divides each such channel by ``s = max|x|^alpha / max|w|^(1 - alpha)`` and multiplies
the weight's matching input row by it: the same function in exact arithmetic, with the outliers
moved into weights that are quantised per output column. ``max|x|`` is measured once, on
training sentences, and saved with the model (``TaskModel.ffn_input_max``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Share of each channel's range moved into the weights; 0.5 / 0.75 / 0.9 gave 0.586 / 0.637 / 0.640
# all-dev F_avg on one model (fp32 torch 0.655, no smoothing 0.593) and real `against` F1 0.584 / 0.648 / 0.636
# (fp32 0.655, no smoothing 0.597).
SMOOTHING_ALPHA = 0.75
# Training sentences whose FFN inputs are measured: 512 measured on training sentences gave the
# figures above; 120 short sentences of our own checklists gave 0.605 (the range must come from news text).
SMOOTHING_SENTENCES = 512
# Only layers whose largest channel exceeds the median channel this many times are smoothed: the
# scaling costs a pass over the activations in each smoothed layer, and smoothing all 12 ran slower in
# whole runs; all-mpnet-base-v2's layers 6-10 reach 30-50 times, the others 4-10.
OUTLIER_RATIO = 20.0


def ffn_layers(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's transformer layers, in order: each has ``intermediate`` (dense, activation) and ``output.dense``."""
    return [m for m in encoder.modules() if hasattr(m, "intermediate") and hasattr(getattr(m, "output", None), "dense")]


def measure_ffn_inputs(encoder: nn.Module, run: Callable[[], object]) -> torch.Tensor:
    """The largest |value| of each channel going into each layer's second FFN projection while ``run()`` uses
    ``encoder``: a (layers, intermediate size) tensor."""
    layers = ffn_layers(encoder)
    if not layers:
        raise ValueError(f"{type(encoder).__name__} has no FFN layers to measure")
    largest: list[torch.Tensor | None] = [None] * len(layers)

    def recorder(index: int):
        def record(_module, inputs) -> None:
            values = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0).float().cpu()
            largest[index] = values if largest[index] is None else torch.maximum(largest[index], values)

        return record

    hooks = [layer.output.dense.register_forward_pre_hook(recorder(i)) for i, layer in enumerate(layers)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    if any(values is None for values in largest):
        raise ValueError("measuring the FFN inputs ran no sentence through the torch encoder")
    return torch.stack(largest)


class _ScaledActivation(nn.Module):
    def __init__(self, activation: nn.Module, scale: torch.Tensor) -> None:
        super().__init__()
        self.activation = activation
        self.register_buffer("scale", scale)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.activation(hidden) * self.scale


@contextmanager
def smoothed_ffn_outputs(encoder: nn.Module, input_max: torch.Tensor, *, alpha: float = SMOOTHING_ALPHA) -> Iterator[None]:
    """``encoder`` with the FFN output projection of each layer with outlier channels smoothed (see the
    module's docstring), for tracing; the weights and activations are put back afterwards."""
    layers = ffn_layers(encoder)
    if input_max.shape != (len(layers), layers[0].output.dense.in_features):
        raise ValueError(f"FFN input ranges of shape {tuple(input_max.shape)} do not fit {len(layers)} layers")
    kept = []
    try:
        with torch.no_grad():
            for layer, channel_max in zip(layers, input_max, strict=True):
                if channel_max.max() < OUTLIER_RATIO * channel_max.median():
                    continue
                dense, intermediate = layer.output.dense, layer.intermediate
                kept.append((dense, dense.weight.detach().clone(), intermediate, intermediate.intermediate_act_fn))
                weight_max = dense.weight.abs().amax(0).float().clamp(min=1e-5)  # per input channel
                scale = (channel_max.to(weight_max).clamp(min=1e-5) ** alpha / weight_max ** (1 - alpha)).clamp(min=1e-5)
                dense.weight.mul_(scale.to(dense.weight))
                intermediate.intermediate_act_fn = _ScaledActivation(intermediate.intermediate_act_fn, (1 / scale).to(dense.weight))
        yield
    finally:
        with torch.no_grad():
            for dense, weight, intermediate, activation in kept:
                dense.weight.copy_(weight)
                intermediate.intermediate_act_fn = activation
