"""The network side of the Markov-CoT chain: tokenizer, model, pretraining, cache (issue 23).

* **Tokens.** One word per (layer, state): ``s{l}_{i}`` is state ``i`` of layer ``l``; plus
  ``<pad>``, ``<s>``, ``</s>``, ``<unk>``. The prompt is ``<s> s0_{start}``, the completion the
  ``L-1`` later states (fixed length, no end token). :func:`tokenizer` is a Hugging Face
  ``PreTrainedTokenizerFast`` (a word-level ``tokenizers`` model), which TRL accepts as is.
* **Model.** A GPT-2 built from :class:`NetConfig` (no dropout: TRL recomputes log-probabilities
  in train mode, which must equal the sampling ones).
* **Pretraining** (:class:`LMPretrainConfig`): cross-entropy on paths drawn from the chain with
  the start uniform over layer 0 -- the tabular learner's data model (Spec 2 §3) -- the loss on
  the ``L-1`` predicted states only; the paths and the initial weights come from the cell's
  stream ``(root_seed, "{stream}/lm-pretrain")``, seed ``rep``.
* **Cache.** A pretrained network is saved under its content key (chain, model config,
  pretraining settings, streams, torch version) with the SHA-256 of its weights; a later cell
  loads it after checking both, and recomputes it (saying why) when either differs. A file
  lock makes concurrent workers pretrain one key once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from obandits import _validate as v
from obandits.cot import ChainConfig, TreeChain
from obandits.options import option
from obandits.seeding import rep_generators

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
WEIGHTS = "model.safetensors"
META = "obandits_meta.json"
CACHE_ENV = "OBANDITS_CACHE"
FORMAT = 1  # bump when the pretraining code changes what a key produces


def state_token(layer: int, state: int) -> str:
    return f"s{layer}_{state}"


def vocab(chain: TreeChain) -> dict[str, int]:
    """Token -> id: the specials, then every (layer, state) in layer order."""
    words = list(SPECIALS) + [state_token(l, s) for l in range(chain.L)
                              for s in range(int(chain.n_states[l]))]
    return {w: i for i, w in enumerate(words)}


def tokenizer(chain: TreeChain):
    """A word-level ``PreTrainedTokenizerFast`` over the chain's states (whitespace-split)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab(chain), unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, unk_token=UNK)


def prompt(start: int) -> str:
    return f"{BOS} {state_token(0, start)}"


def token_table(chain: TreeChain) -> np.ndarray:
    """``ids[l, s]``: the token id of state ``s`` of layer ``l`` (-1 beyond a layer's states)."""
    voc = vocab(chain)
    out = np.full((chain.L, max(chain.config.M0, chain.M)), -1, np.int64)
    for l in range(chain.L):
        for s in range(int(chain.n_states[l])):
            out[l, s] = voc[state_token(l, s)]
    return out


def parse_completion(chain: TreeChain, text: str) -> np.ndarray | None:
    """The states ``o_1..o_{L-1}`` of a completion's text, or None when it is malformed (wrong
    length, or a token that is not a state of its layer)."""
    words = text.split()
    if len(words) != chain.L - 1:
        return None
    out = np.empty(chain.L - 1, np.int64)
    for j, w in enumerate(words):
        head, _, tail = w.partition("_")
        if head != f"s{j + 1}" or not tail.isdigit() or int(tail) >= chain.M:
            return None
        out[j] = int(tail)
    return out


@dataclass(frozen=True)
class NetConfig:
    """A small GPT-2 (issue 23's feasibility run: 2 layers x 64 wide, ~100k parameters)."""

    n_layer: int = option(2, "transformer layers")
    n_embd: int = option(64, "model width")
    n_head: int = option(4, "attention heads")

    def __post_init__(self) -> None:
        v.int_scalar("n_layer", self.n_layer, min_value=1, max_value=48)
        v.int_scalar("n_embd", self.n_embd, min_value=4, max_value=4096)
        v.int_scalar("n_head", self.n_head, min_value=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")


@dataclass(frozen=True)
class LMPretrainConfig:
    """Pretraining of the network on the chain's paths (AdamW, cosine decay to 10%)."""

    steps: int = option(1500, "network pretraining steps")
    batch: int = option(64, "paths per network pretraining step")
    lr: float = option(3e-3, "network pretraining learning rate")

    def __post_init__(self) -> None:
        v.int_scalar("steps", self.steps, min_value=0)
        v.int_scalar("batch", self.batch, min_value=1)
        v.finite_scalar("lr", self.lr, min_value=0.0, strict_min=True)


def build_model(chain: TreeChain, net: NetConfig, seed: int):
    """A randomly initialised GPT-2 for the chain (weights from ``torch.manual_seed(seed)``)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    voc = vocab(chain)
    cfg = GPT2Config(vocab_size=len(voc), n_positions=chain.L + 1, n_embd=net.n_embd,
                     n_layer=net.n_layer, n_head=net.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, bos_token_id=voc[BOS], eos_token_id=voc[EOS],
                     pad_token_id=voc[PAD])
    torch.manual_seed(seed)
    return GPT2LMHeadModel(cfg)


def sample_chain_paths(chain: TreeChain, n: int, gen: np.random.Generator,
                       starts: np.ndarray | None = None) -> np.ndarray:
    """``n`` paths ``(n, L)`` of the true chain; the start uniform over layer 0 unless given."""
    s = gen.integers(int(chain.n_states[0]), size=n) if starts is None else np.asarray(starts)
    paths = np.empty((n, chain.L), np.int64)
    paths[:, 0] = s
    cdf = np.cumsum(chain.P, axis=2)
    for l in range(chain.L - 1):
        u = gen.random(n)
        nxt = (u[:, None] > cdf[l, paths[:, l]]).sum(axis=1)
        paths[:, l + 1] = np.minimum(nxt, chain.M - 1)
    return paths


def path_ids(chain: TreeChain, paths: np.ndarray) -> np.ndarray:
    """Token ids ``(n, L+1)`` of ``<s> o_0 .. o_{L-1}``."""
    tab = token_table(chain)
    ids = np.empty((len(paths), chain.L + 1), np.int64)
    ids[:, 0] = vocab(chain)[BOS]
    ids[:, 1:] = tab[np.arange(chain.L)[None, :], paths]
    return ids


def torch_seed(gen: np.random.Generator) -> int:
    return int(gen.integers(2**62))


def pretrain(chain: TreeChain, net: NetConfig, cfg: LMPretrainConfig, gen: np.random.Generator,
             progress=None):
    """Pretrain a fresh network on chain paths (module doc); returns ``(model, losses)``."""
    import torch

    model = build_model(chain, net, torch_seed(gen))
    torch.manual_seed(torch_seed(gen))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.1 + 0.45 * (1 + np.cos(np.pi * min(t / max(cfg.steps, 1), 1.0))))
    losses = np.empty(cfg.steps)
    for t in range(cfg.steps):
        ids = torch.from_numpy(path_ids(chain, sample_chain_paths(chain, cfg.batch, gen)))
        labels = ids.clone()
        labels[:, :2] = -100  # <s> and the start state are given, not predicted
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[t] = loss.item()
        if progress is not None:
            progress(t + 1, cfg.steps)
    model.eval()
    return model, losses


# ------------------------------------------------------------------------------------------
# The cache of pretrained networks
# ------------------------------------------------------------------------------------------


def cache_root(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$OBANDITS_CACHE/cot-lm``, else ``~/.cache/obandits/cot-lm``."""
    if path:
        return Path(path)
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "obandits"
    return Path(base) / "cot-lm"


def content_key(chain_cfg: ChainConfig, net: NetConfig, cfg: LMPretrainConfig, root_seed: int,
                stream: str, rep: int) -> dict:
    """Everything a pretrained network depends on (its cache key)."""
    import torch

    return {"format": FORMAT, "chain": asdict(chain_cfg), "net": asdict(net),
            "pretrain": asdict(cfg), "root_seed": int(root_seed), "stream": stream,
            "rep": int(rep), "torch": torch.__version__}


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(folder: Path, key: dict) -> str | None:
    """None when ``folder`` holds the network of ``key`` intact, else why not."""
    meta_path = folder / META
    if not meta_path.is_file() or not (folder / WEIGHTS).is_file():
        return "missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return f"unreadable {META} ({exc})"
    if meta.get("key") != json.loads(json.dumps(key, default=list)):
        return "its key differs"
    if meta.get("sha256") != _sha256(folder / WEIGHTS):
        return f"the checksum of {WEIGHTS} differs"
    return None


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pretrained(chain: TreeChain, net: NetConfig, cfg: LMPretrainConfig, root_seed: int,
               stream: str, rep: int, cache: str | None = None, log=print) -> tuple[Path, dict]:
    """The folder of the pretrained network of ``(chain, net, cfg, streams, rep)``: from the
    cache when it verifies, else pretrained now and saved. Returns ``(folder, meta)``."""
    key = content_key(chain.config, net, cfg, root_seed, stream, rep)
    h = key_hash(key)
    folder = cache_root(cache) / h[:24]
    with _locked(folder.with_name(folder.name + ".lock")):
        why = verify(folder, key)
        if why is None:
            return folder, json.loads((folder / META).read_text())
        if why != "missing":
            log(f"cot-lm: cached network {folder} not reused ({why}); pretraining again")
        import torch

        from .evaluate import network_tv

        gen = rep_generators(root_seed, f"{stream}/lm-pretrain", rep + 1)[rep]
        t0 = time.perf_counter()
        model, losses = pretrain(chain, net, cfg, gen)
        seconds = time.perf_counter() - t0
        tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer(chain).save_pretrained(tmp)
        with torch.no_grad():
            tv = network_tv(chain, model)
        meta = {"key": key, "sha256": _sha256(tmp / WEIGHTS), "seconds": seconds,
                "final_loss": float(losses[-20:].mean()) if len(losses) else None,
                "tv": tv, "n_params": int(sum(p.numel() for p in model.parameters()))}
        (tmp / META).write_text(json.dumps(meta, indent=1, default=list))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        return folder, json.loads((folder / META).read_text())


def load(folder: Path):
    """``(model, tokenizer)`` saved by :func:`pretrained` (``from_pretrained``, so TRL can
    rebuild the reference model from ``config._name_or_path``)."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    model = AutoModelForCausalLM.from_pretrained(str(folder))
    model.eval()
    return model, PreTrainedTokenizerFast.from_pretrained(str(folder))
