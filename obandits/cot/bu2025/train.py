"""Bu et al.'s learner, pretraining and fine-tuning, as their script does them (issue 14).

Line numbers ``l.N`` refer to ``multi_task_tmc.py`` of DakeBU/Distribution-Bias-of-Post-training
(commit 6049bf5). Their ``LinearSoftmaxModel`` keeps ``thetas[l]`` of shape ``(M_{l+1}, M_l)``
with logits ``thetas[l][:, s]`` for state ``s``; here ``theta[l, s, :] = thetas[l][:, s]``, in
the ``(L-1, Mx, M)`` layout of :mod:`obandits.cot.learner` (rows ``s >= M_l`` are padding,
0). The policy at temperature 1 is :func:`obandits.cot.learner.policy`.

Every update is a multiple of the log-softmax gradient at one visited state,
``grad_theta[l, s, :] log p(a | s) = e_a - p(. | s)`` (their ``_compute_grad_logp``,
l.610-616), so training never changes the sum of a row of ``theta``.

Fine-tuning draws, per iteration, one instance ``q`` uniformly from the fine-tuning set (200
TASK1 instances, l.1622) and one CoT ``o`` from TASK1's start under the current model
(temperature 1); ``R = 1{o in C_q}``. Their four rules (``rl_variant="authors"``):

* REINFORCE (l.491-508): ``theta[l, o_l] += lr R (e_{o_{l+1}} - p)`` at every step ``l``.
* RAFT (l.510-538): the same times ``(1 + log p(o_{l+1} | o_l))`` (log-probability before the
  step), a factor the textbook RAFT (SFT on the correct CoTs) does not have.
* "PPO" (l.540-577, advantages l.618-651): ``theta[l, o_l] += lr (1 + sign(A_l) clip_eps) A_l
  (e_{o_{l+1}} - p)`` with ``A_l = Q_l - V_l``, ``Q_l`` = Monte-Carlo PRM potential of the
  prefix ``o_{0..l+1}`` (mean TASK1 ``Rex`` of ``N`` true-chain completions) and ``V_l =
  sum_{s'} p(s' | o_l) Rex(o_{0..l}, s', one true-chain completion from s')``. The verifiable
  reward ``R`` is computed and ignored; the ratio ``pi/pi_old`` is computed and ignored (the old
  parameters are refreshed after every step, so it would be 1 anyway).
* Reinforce-rej (l.579-608): draw up to ``rej_threshold`` CoTs from the *current* model (their
  comment: "We use current model as pretrained for simplicity"); if none is correct, one more
  CoT and a REINFORCE step, else skip.

``rl_variant="group"`` runs our cleaner rules instead (:func:`obandits.cot.posttrain.post_train`:
groups of ``n_rollouts``, ``ppo_epochs``, ratio clip ``clip_eps``, PPO advantage ``R - mean R``,
RAFT = SFT on the group's correct CoTs, rejection by ``rej_threshold`` fresh CoTs).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ... import _validate as v
from ...nbrng import randint, state_from_sequence
from ..chain import TreeChain, valid_mass
from ..instances import Instances, make_instances
from ..learner import pretrain_nb, row_softmax, sample_path
from ..posttrain import RLConfig, _correct, post_train
from .config import FINETUNE_METHODS, Bu2025Config
from .rewards import chain_cdf, mc_potential_table, mc_reward_nb, potential_exact_table

METHOD_CODE = {m: i for i, m in enumerate(FINETUNE_METHODS)}  # REINFORCE 0, RAFT 1, PPO 2, rej 3
GROUP_METHOD = {"REINFORCE": "reinforce", "RAFT": "raft", "PPO": "ppo",
                "Reinforce-rej": "reinforce"}  # rej: reinforce with reject = rej_threshold
TASK1 = 0  # they fine-tune on TASK1 only (l.1622-1651)


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def nb_state(rng: np.random.Generator) -> np.ndarray:
    """A uint64[4] :mod:`obandits.nbrng` state drawn from ``rng`` (advances ``rng``)."""
    _check_rng(rng)
    return state_from_sequence(np.random.SeedSequence(rng.integers(0, 2**63, size=4).tolist()))


def init_theta(chain: TreeChain, cfg: Bu2025Config, rng: np.random.Generator) -> np.ndarray:
    """Their learner init (l.253-266): ``thetas[l] = randn(M_{l+1}, M_l) * 0.1`` (l.261),
    transposed to ``theta[l, s, :]``; padding rows 0."""
    _check_rng(rng)
    Lm1, Mx, M = chain.P.shape
    theta = np.zeros((Lm1, Mx, M))
    for l in range(Lm1):
        n = int(chain.n_states[l])
        theta[l, :n, :] = (rng.standard_normal((M, n)) * cfg.init_scale).T
    return theta


def pretrain(chain: TreeChain, cfg: Bu2025Config, rng: np.random.Generator) -> np.ndarray:
    """Their init then their two-phase one-path SGD (``LinearSoftmaxModel.train``, l.372-450).

    Step ``t``: one path ``o`` from the true chain, start uniform over layer 0
    (``tm.sample_path``, l.221-231); at every layer ``theta[l, o_l] += eta_t (e_{o_{l+1}} -
    p(. | o_l))`` (cross-entropy SGD, l.382-408), ``eta_t = eta`` for ``T1`` steps then
    ``eta / 2`` for ``T2`` (l.411-437; their ``max(probs) > 1e-6`` guard always holds). This is
    :func:`obandits.cot.learner.pretrain_nb` with batch 1, which is reused."""
    theta = init_theta(chain, cfg, rng)
    pretrain_nb(theta, chain.P, chain.n_states, cfg.T1, cfg.eta, cfg.T2, cfg.eta / 2, 1,
                nb_state(rng), 1, np.zeros(0))
    return theta


@nb.njit(cache=True)
def _prefix_code(path, depth, M):
    c = 0
    for l in range(1, depth + 1):
        c = c * M + path[l]
    return c


@nb.njit(cache=True)
def ppo_advantages_nb(theta, path, P, cdf, task_start, target, inv_Z, n_mc, table, q_table,
                      v_exact, st, pot, adv, p, tmp):
    """Their PPO advantages ``A_l = Q_l - V_l`` along ``path`` (l.618-651) into ``adv``.

    ``Q_l`` = potential of ``path[:l+2]``: from ``table`` (rows = prefix depth, columns =
    prefix code, see :mod:`obandits.cot.bu2025.rewards`) when ``q_table``, else a fresh
    Monte-Carlo mean of ``n_mc`` completions (:func:`mc_reward_nb`); like theirs, the
    potentials of every prefix (depth 0 too) are drawn first, in order.
    ``V_l = sum_{s'} p(s' | path[l]) v(path[:l+1] + s')`` with ``v`` = ``Rex`` of one
    true-chain completion (theirs), or ``table`` when ``v_exact`` (its expectation)."""
    Lm1, _, M = theta.shape
    for d in range(Lm1 + 1):
        if q_table:
            pot[d] = table[d, _prefix_code(path, d, M)]
        else:
            pot[d] = mc_reward_nb(cdf, P, path, d, task_start, target, inv_Z, n_mc, 0.0, st)
    for l in range(Lm1):
        for k in range(l + 1):
            tmp[k] = path[k]
        row_softmax(theta, l, path[l], 1.0, p)
        value = 0.0
        for s2 in range(M):
            tmp[l + 1] = s2
            if v_exact:
                r = table[l + 1, _prefix_code(tmp, l + 1, M)]
            else:
                r = mc_reward_nb(cdf, P, tmp, l + 1, task_start, target, inv_Z, 1, 0.0, st)
            value += r * p[s2]
        adv[l] = pot[l + 1] - value


@nb.njit(cache=True)
def authors_finetune_nb(theta, method, start, target, ptr, codes, n_iters, lr, clip_eps, rej,
                        P, cdf, inv_Z, n_mc, table, q_table, v_exact, st, stats):
    """Their fine-tuning loop (l.452-489) with the update of ``method`` (module docstring;
    0 REINFORCE, 1 RAFT, 2 PPO, 3 Reinforce-rej); ``theta`` updated in place.
    ``stats`` = (skipped by rejection, iterations that changed theta)."""
    Lm1, _, M = theta.shape
    L = Lm1 + 1
    n_inst = ptr.shape[0] - 1
    path = np.empty(L, np.int64)
    tmp = np.empty(L, np.int64)
    p = np.empty(M)
    pot = np.empty(L)
    adv = np.zeros(Lm1)
    for _it in range(n_iters):
        i = randint(st, n_inst)
        if method == 3:
            solved = False
            for _r in range(rej):
                sample_path(theta, start, 1.0, st, p, tmp)
                if _correct(tmp, target, M, ptr, codes, i) > 0.0:
                    solved = True
                    break
            if solved:
                stats[0] += 1
                continue
        sample_path(theta, start, 1.0, st, p, path)
        R = _correct(path, target, M, ptr, codes, i)
        if method == 2:
            ppo_advantages_nb(theta, path, P, cdf, start, target, inv_Z, n_mc, table, q_table,
                              v_exact, st, pot, adv, p, tmp)
        changed = False
        for l in range(Lm1):
            s = path[l]
            a = path[l + 1]
            row_softmax(theta, l, s, 1.0, p)
            if method == 2:
                sign = 1.0 if adv[l] >= 0.0 else -1.0
                coef = lr * (1.0 + sign * clip_eps) * adv[l]
            elif method == 1:
                coef = lr * (1.0 + np.log(p[a])) * R
            else:
                coef = lr * R
            if coef != 0.0:
                changed = True
                for m in range(M):
                    theta[l, s, m] -= coef * p[m]
                theta[l, s, a] += coef
        if changed:
            stats[1] += 1


def finetune_instances(chain: TreeChain, cfg: Bu2025Config, rng: np.random.Generator
                       ) -> Instances:
    """Their fine-tuning set (l.1622): ``num_trials`` TASK1 instances, each valid CoT correct
    with probability ``Rex`` (``generate_question_instances``, l.1243-1259)."""
    return make_instances(chain, TASK1, cfg.num_trials, rng)


def ppo_table(chain: TreeChain, cfg: Bu2025Config, rng: np.random.Generator) -> np.ndarray | None:
    """The potential table their PPO reads, or ``None`` when it draws fresh estimates:
    ``ppo_potential='exact'``: the exact TASK1 potentials of every prefix from TASK1's start;
    ``quirk_mc_cache``: one Monte-Carlo draw (``N`` completions) per prefix, frozen for the
    run like their cache (l.962-964; their PPO, GRPO-KL and PRM-BoN on TASK1 all read the same
    cached entries, so pass one table to :func:`finetune` and to the samplers)."""
    start = chain.tasks[TASK1][0]
    if cfg.ppo_potential == "exact":
        return potential_exact_table(chain, TASK1, start)
    if cfg.quirk_mc_cache:
        return mc_potential_table(chain, TASK1, start, cfg.N, nb_state(rng))
    return None


def finetune(chain: TreeChain, theta0: np.ndarray, method: str, cfg: Bu2025Config,
             rng: np.random.Generator, reward: Instances | None = None,
             pot_table: np.ndarray | None = None, stats: dict | None = None) -> np.ndarray:
    """Fine-tune a copy of ``theta0`` on TASK1 with ``method`` (one of ``FINETUNE_METHODS``) for
    ``cfg.finetune_iterations`` iterations at ``cfg.finetune_lr`` (module docstring).

    ``reward``: the fine-tuning instances (default: :func:`finetune_instances` drawn from
    ``rng``; their script trains every method on one set, l.1622: draw it once and pass it).
    ``pot_table``: PPO's potential table (default :func:`ppo_table`). ``stats``: if a dict,
    receives ``skipped`` (instances rejected) and ``updates`` (iterations that moved theta).
    See :func:`finetune_state` for the compiled stream."""
    v.choice("method", method, FINETUNE_METHODS)
    _check_rng(rng)
    inst = finetune_instances(chain, cfg, rng) if reward is None else reward
    if pot_table is None and method == "PPO" and cfg.rl_variant == "authors":
        pot_table = ppo_table(chain, cfg, rng)
    return finetune_state(chain, theta0, method, cfg, nb_state(rng), inst, pot_table, stats)


def finetune_state(chain: TreeChain, theta0: np.ndarray, method: str, cfg: Bu2025Config,
                   state: np.ndarray, reward: Instances, pot_table: np.ndarray | None = None,
                   stats: dict | None = None) -> np.ndarray:
    """:func:`finetune` on an explicit :mod:`obandits.nbrng` ``state`` (uint64[4], advanced in
    place). PPO (authors' variant) reads ``Q`` (and, with ``ppo_potential='exact'``, ``V``) from
    ``pot_table`` when given, else draws fresh Monte-Carlo estimates per call."""
    v.choice("method", method, FINETUNE_METHODS)
    theta = np.array(theta0, dtype=np.float64, copy=True)
    if theta.shape != chain.P.shape or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be a finite array of the chain's shape {chain.P.shape}, "
                         f"got shape {theta.shape}")
    if not isinstance(reward, Instances) or reward.task != TASK1:
        raise ValueError("reward must be obandits.cot.instances.Instances of TASK1 (task 0)")
    start, target = chain.tasks[TASK1]
    if cfg.rl_variant == "group":
        rl = RLConfig(method=GROUP_METHOD[method], iters=cfg.finetune_iterations,
                      n_rollouts=cfg.n_rollouts, lr=cfg.finetune_lr, clip_eps=cfg.clip_eps,
                      ppo_epochs=cfg.ppo_epochs,
                      reject=cfg.rej_threshold if method == "Reinforce-rej" else 0,
                      snap_every=cfg.finetune_iterations)
        run = post_train(chain, theta, reward, rl, state)
        if stats is not None:
            stats.update(skipped=run.rejected, updates=run.updates)
        return run.theta
    table = np.zeros((1, 1))
    q_table = v_exact = False
    if method == "PPO":
        if pot_table is None and cfg.ppo_potential == "exact":
            pot_table = potential_exact_table(chain, TASK1, start)
        if pot_table is not None:
            table = np.asarray(pot_table, dtype=np.float64)
            need = (chain.L, chain.M ** (chain.L - 1))
            if table.shape != need or not np.all(np.isfinite(table)):
                raise ValueError(f"pot_table must be a finite {need} prefix table, got shape "
                                 f"{table.shape}")
            q_table = True
            v_exact = cfg.ppo_potential == "exact"
    counters = np.zeros(2, np.int64)
    authors_finetune_nb(theta, METHOD_CODE[method], start, target, reward.ptr, reward.codes,
                        cfg.finetune_iterations, cfg.finetune_lr, cfg.clip_eps,
                        cfg.rej_threshold, chain.P, chain_cdf(chain),
                        1.0 / valid_mass(chain, TASK1), cfg.N, table, q_table, v_exact, state,
                        counters)
    if stats is not None:
        stats.update(skipped=int(counters[0]), updates=int(counters[1]))
    return theta
