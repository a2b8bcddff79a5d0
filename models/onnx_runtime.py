"""ONNX Runtime inference for a model: the merged encoder, pooling and every head exported as
one graph (one output per head, ``<head>_logits``), dynamically quantised to int8, and plugged
into ``model.runtime``.

>>> model = StanceModel.from_pretrained("models/default", runtime="onnx")  # exports once to models/default/onnx/
>>> model.analyze(text)                                                   # same API, ONNX Runtime underneath

``use_onnx(model)`` does the same for a model already in memory (e.g. just trained).

Tokenisation, length bucketing, calibration and the alias gate stay in the model; only the
forward pass moves. Needs the ``fast`` extra: ``pip install 'stance-service[fast]'``.

Dynamic quantisation picks activation scales per batch, so a pair's probabilities can move a
little with its batch-mates (8 of 968 labels changed between batch sizes 64 and 8 in one
check; fp32 torch changed none). Results are repeatable for the same inputs and batching.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from functools import cache
from pathlib import Path

import numpy as np
import torch
from stance.models.atomic import copy_file, scratch_directory, write_file
from stance.models.runtimes import missing_onnx_packages, onnx_installed
from stance.models.smoothing import smoothed_ffn_outputs
from torch import nn

__all__ = ["OnnxRuntime", "export_onnx", "find_onnx", "onnx_installed", "onnx_path", "use_onnx"]

ONNX_DIR = "onnx"
INT8_NAME = "model.int8.onnx"
FP32_NAME = "model.onnx"
META_NAME = "meta.json"
OPSET = 17
# Bump when the exported graph changes (inputs, outputs, fusion, quantisation settings).
EXPORT_FORMAT = "stance-onnx-5"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_SUFFIX = "_logits"  # a head's output is named <head>_logits
# MatMuls left in float when quantising: the second FFN projection of each layer, whose
# input (the GELU output) has outliers that one int8 scale per batch cannot hold.
KEEP_FLOAT = (r"layer\.\d+/output/dense/MatMul$",)
CPUINFO = Path("/proc/cpuinfo")


@cache  # read once a process: every export and fingerprint asks
def int8_products_saturate(cpuinfo: Path = CPUINFO) -> bool:
    """Whether ONNX Runtime's u8 x s8 kernels here sum pairs of products in 16 bits, which saturates
    (an x86-64 CPU with AVX2 but no VNNI): the default's export then read every target as ``none``
    (README, "CPUs without VNNI"); its weights are then quantised to 7 bits (``reduce_range``), as ONNX
    Runtime's quantisation guide advises. Read from Linux's ``/proc/cpuinfo``; elsewhere False."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx2" in flags and not {"avx512_vnni", "avx_vnni"} & set(flags)


def _export_options(model, *, quantize: bool) -> dict:
    """How ``model`` is exported: every MatMul int8 where its settings ask for the faster export
    (``int8_ffn_output``), with the FFN output projections smoothed when the model has their input
    ranges; else the FFN output projections in float (``KEEP_FLOAT``)."""
    if not getattr(getattr(model, "settings", None), "int8_ffn_output", False):
        return {"keep_float": KEEP_FLOAT}
    return {"keep_float": (), "ffn_input_max": model.ffn_input_max if quantize else None}


def _require_onnx() -> None:
    """Fail with an install hint (a RuntimeError, which the CLI reports) when the extra is missing."""
    missing = missing_onnx_packages()
    if missing:
        raise RuntimeError(f"the ONNX runtime needs {' and '.join(missing)}: pip install 'stance-service[fast]'")


class _Exportable(nn.Module):
    """The model's forward pass (in eval mode: no dropout) with positional inputs and one output per head."""

    def __init__(self, model: nn.Module, with_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.with_token_types = with_token_types

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        return tuple(self.model(input_ids, attention_mask, token_type_ids if self.with_token_types else None).values())


def export_onnx(
    model,
    path: str | os.PathLike,
    *,
    quantize: bool = True,
    per_channel: bool = True,
    keep_float: Sequence[str] = KEEP_FLOAT,
    ffn_input_max: torch.Tensor | None = None,
) -> Path:
    """Write ``model``'s forward pass (encoder, pooling, heads) to ``path`` as ONNX.

    Batch and sequence axes are dynamic. With ``quantize`` the weights of the MatMuls are
    quantised to int8 (QInt8, dynamic: activations are quantised per batch at run time),
    except those whose node names match a pattern in ``keep_float``; embeddings stay float.
    Measured on the default model and a quick model (2-core AMD EPYC), against fp32 torch:

    * ``per_channel`` (one scale per output column) matters: one scale per tensor lost
      0.5-1.4 F_avg points and flipped twice as many labels;
    * keeping the FFN output projections float (``KEEP_FLOAT``) cut label flips by ~40%
      (17 instead of 30 of 3,436 rows on seeds/corpus.jsonl) but runs ~27% slower than
      quantising every MatMul (142 against 195 sentences/s; fp32 torch: 48);
      ``keep_float=()`` (a model's ``int8_ffn_output`` option) is the faster, less faithful choice;
    * ``ffn_input_max`` (the model's measured FFN input ranges) smooths the FFN output
      projections of the layers with outlier channels before tracing (``stance.models.smoothing``):
      with them quantised too, that gave back most of what int8 lost on real ``against`` rows
      (F1 0.635 against 0.597 unsmoothed and 0.655 in fp32 torch, default 1.4.0), at the speed
      of the unsmoothed export within the host's drift;
    * quantising the embedding table too (23 MB instead of 59 MB) flipped more labels;
    * fusing the graph offline with ONNX Runtime's transformer optimiser (Attention,
      SkipLayerNorm) ran 20% slower than letting the session optimise the plain graph.
    """
    _require_onnx()
    path = Path(path)
    # the transformer whose attention implementation is switched for export (under LoRA adapters
    # that were not merged yet, which then trace as extra MatMuls)
    encoder = model.backbone.base_encoder()
    with_token_types = model.backbone.uses_token_types
    wrapper = _Exportable(model, with_token_types)
    sample = model.example_inputs()
    names = [n for n in INPUT_NAMES if n != "token_type_ids" or with_token_types]
    args = tuple(sample[n] for n in names)
    output_names = [name + OUTPUT_SUFFIX for name in model.head_specs]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes.update({name: {0: "batch"} for name in output_names})
    previous_attention = getattr(encoder.config, "_attn_implementation", None)
    was_training = model.training
    model.eval()
    with scratch_directory(path) as work:
        raw = work / "raw.onnx"
        try:
            # Eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses itself.
            _set_attention(encoder, "eager")
            smoothing = smoothed_ffn_outputs(encoder, ffn_input_max) if ffn_input_max is not None else nullcontext()
            with torch.no_grad(), warnings.catch_warnings(), smoothing:
                # tracing notes about mask helpers and index ops, checked by the tests against torch
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", message=".*aten::index.*")
                torch.onnx.export(
                    wrapper,
                    args,
                    str(raw),
                    input_names=names,
                    output_names=output_names,
                    dynamic_axes=axes,
                    opset_version=OPSET,
                    do_constant_folding=True,
                    dynamo=False,
                )
        finally:
            if previous_attention is not None:
                _set_attention(encoder, previous_attention)
            model.train(was_training)
        current = raw
        if quantize:
            import onnx
            from onnx import TensorProto
            from onnxruntime.quantization import QuantType, quantize_dynamic

            patterns = [re.compile(p) for p in keep_float]
            graph = onnx.load(str(current), load_external_data=False).graph
            excluded = [n.name for n in graph.node if n.op_type == "MatMul" and any(p.search(n.name) for p in patterns)]
            quantized = work / "quantized.onnx"
            quiet = logging.getLogger()
            level = quiet.level
            quiet.setLevel(logging.ERROR)  # "consider pre-processing" advice, irrelevant here
            try:
                quantize_dynamic(
                    str(current),
                    str(quantized),
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    reduce_range=int8_products_saturate(),
                    op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=excluded,
                    # outputs whose type shape inference cannot tell are float
                    extra_options={"DefaultTensorType": TensorProto.FLOAT},
                )
            finally:
                quiet.setLevel(level)
            current = quantized
        copy_file(current, path)
    return path


def _set_attention(encoder: nn.Module, implementation: str) -> None:
    if hasattr(encoder, "set_attn_implementation"):
        try:
            encoder.set_attn_implementation(implementation)
            return
        except (ValueError, AttributeError, ImportError):
            pass
    for module in encoder.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = implementation


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    if not cores:
        cores = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores)


class OnnxRuntime:
    """``model.runtime``: a batch of tokenizer tensors in, logits per head name out."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None, spinning: bool = False) -> None:
        """``spinning=False``: idle worker threads sleep instead of busy-waiting between runs.
        Busy-waiting gained ~5% on back-to-back large batches but lost 10-25% per article,
        where each run alternates with Python work (splitting, tokenising) and torch ops."""
        _require_onnx()
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no ONNX model")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Memory patterns are planned and kept per input shape; with batch and sequence lengths
        # that change every call they only grow the arena (580 against 500 MB RSS, same speed).
        options.enable_mem_pattern = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.heads = [name.removesuffix(OUTPUT_SUFFIX) for name in self.output_names]

    def __call__(self, batch: Mapping) -> dict[str, np.ndarray]:
        feeds = {}
        for name in self.input_names:
            value = batch[name] if name in batch else np.zeros_like(_numpy(batch["input_ids"]))
            feeds[name] = _numpy(value).astype(np.int64, copy=False)
        return dict(zip(self.heads, self.session.run(self.output_names, feeds), strict=True))

    def __repr__(self) -> str:
        return f"OnnxRuntime({str(self.path)!r})"


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


# ---- caching --------------------------------------------------------------------------


def model_fingerprint(model, model_dir: str | os.PathLike | None = None, *, quantize: bool = True) -> str:
    """A content hash of what the exported graph depends on: the saved weights and config when
    the model folder is known, else the in-memory weights; for the int8 export, the weight range too."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(EXPORT_FORMAT.encode())
    if quantize:  # an int8 export is redone on the other kind of CPU; an fp32 one has no weight range
        digest.update(b"reduce-range" if int8_products_saturate() else b"full-range")
    if model_dir is not None and (Path(model_dir) / "config.json").is_file():
        for name in ("config.json", "model.safetensors"):
            file = Path(model_dir) / name
            if file.is_file():
                with file.open("rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
        digest.update(json.dumps(model.backbone.settings.encoder, sort_keys=True).encode())
    else:
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def user_cache_dir() -> Path:
    """``$STANCE_CACHE``, else ``$XDG_CACHE_HOME/stance``, else ``~/.cache/stance``."""
    if os.environ.get("STANCE_CACHE"):
        return Path(os.environ["STANCE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "stance"


def onnx_path(model_dir: str | os.PathLike, *, quantize: bool = True) -> Path:
    """Where a model folder keeps its ONNX export: ``<model_dir>/onnx/model.int8.onnx``."""
    return Path(model_dir) / ONNX_DIR / (INT8_NAME if quantize else FP32_NAME)


def _writable(directory: Path) -> bool:
    target = directory if directory.exists() else directory.parent
    return target.is_dir() and os.access(target, os.W_OK | os.X_OK)


def _fresh(path: Path, fingerprint: str) -> bool:
    if not path.is_file():
        return False
    meta = path.parent / META_NAME
    if not meta.is_file():  # an export without the hash of the weights it came from may be another model's
        return False
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8")).get(path.name, {}).get("fingerprint")
    except (json.JSONDecodeError, AttributeError):
        return False
    return recorded == fingerprint


def _record(path: Path, fingerprint: str) -> None:
    meta = path.parent / META_NAME
    try:
        data = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    except json.JSONDecodeError:
        data = {}
    import onnxruntime

    data[path.name] = {
        "fingerprint": fingerprint,
        "format": EXPORT_FORMAT,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    write_file(meta, json.dumps(data, indent=2) + "\n")


def find_onnx(
    model, *, model_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None, quantize: bool = True
) -> tuple[Path, str]:
    """The cached export to use (it may not exist yet) and the model's fingerprint.

    Order: ``cache_dir`` when given; else ``<model_dir>/onnx/`` when it holds a current export
    or can be written; else ``~/.cache/stance/<fingerprint>/``.
    """
    fingerprint = model_fingerprint(model, model_dir, quantize=quantize)
    name = INT8_NAME if quantize else FP32_NAME
    if cache_dir is not None:
        return Path(cache_dir) / name, fingerprint
    if model_dir is not None:
        local = onnx_path(model_dir, quantize=quantize)
        if _fresh(local, fingerprint) or _writable(local.parent):
            return local, fingerprint
    return user_cache_dir() / fingerprint / name, fingerprint


def use_onnx(
    model,
    *,
    model_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    quantize: bool = True,
    threads: int | None = None,
    export: bool = True,
) -> OnnxRuntime | None:
    """Make ``model`` score through ONNX Runtime by setting ``model.runtime``; returns the runtime.

    The graph is exported once, to the model folder's ``onnx/`` or a user cache. With
    ``export=False`` only a current export is used: None (and no runtime) when there is none.
    """
    _require_onnx()
    path, fingerprint = find_onnx(model, model_dir=model_dir, cache_dir=cache_dir, quantize=quantize)
    if not _fresh(path, fingerprint):
        if not export:
            return None
        export_onnx(model, path, quantize=quantize, **_export_options(model, quantize=quantize))
        _record(path, fingerprint)
    runtime = OnnxRuntime(path, threads=threads)
    model.runtime = runtime
    return runtime
