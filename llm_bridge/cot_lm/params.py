"""The ``cot-lm`` runner's parameters (TOML keys): the ``cot`` runner's for the chain and the
tabular side, ``net_*`` for the network, and the ones that do not enter a cell's key."""

from __future__ import annotations

from obandits.cot import DEFAULTS as COT_DEFAULTS

from .evaluate import MAX_EXACT
from .network import LMPretrainConfig, NetConfig
from .posttrain import LMRLConfig

NET_KEYS = {"net_layers": (NetConfig, "n_layer"), "net_width": (NetConfig, "n_embd"),
            "net_heads": (NetConfig, "n_head"),
            "net_pretrain_steps": (LMPretrainConfig, "steps"),
            "net_pretrain_batch": (LMPretrainConfig, "batch"),
            "net_pretrain_lr": (LMPretrainConfig, "lr"),
            "net_steps": (LMRLConfig, "steps"), "net_prompts": (LMRLConfig, "prompts_per_step"),
            "net_rollouts": (LMRLConfig, "n_rollouts"), "net_lr": (LMRLConfig, "lr"),
            "net_clip_eps": (LMRLConfig, "clip_eps"), "net_mu": (LMRLConfig, "num_iterations"),
            "net_eval_every": (LMRLConfig, "eval_every")}
# Not in a cell's key: where the cache is and how many threads do not change its numbers; a run
# on another device is another experiment (another --out), not a resumable part of this one.
NOT_IN_KEY = ("cache", "torch_threads", "device")
DEFAULTS: dict = {
    **COT_DEFAULTS,
    "curves": True, "eval_temperature": 1.0,
    **{k: getattr(cls(), f) for k, (cls, f) in NET_KEYS.items()},
    "max_exact": MAX_EXACT, "n_samples": 4096, "cache": "", "torch_threads": 1,
    "device": "cpu",
}
