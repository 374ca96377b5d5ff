"""verl's custom reward for the obandits estimators (docs/verl.md)::

    reward.custom_reward_function.path=pkg://llm_bridge.verl_reward
    reward.custom_reward_function.name=compute_score

0/1 verifiable reward (the canonical answer of :func:`llm_bridge.answers.answer_key` against
the ground truth) that also returns the answer and the prompt key (``extra_info["index"]``)
for the answer counts; wrap your own score with :func:`llm_bridge.verl_bonus.make_compute_score`.
"""

from llm_bridge.verl_bonus import make_compute_score

compute_score = make_compute_score()
