"""obandits: outcome-based exploration bonuses, outcome bandits and Markov CoT simulators.

The bonus mathematics lives in :mod:`obandits.bonuses` (Spec 1 §1-2) and is shared by every
simulator and by the LLM bridge; metrics in :mod:`obandits.metrics`; answer counts in
:mod:`obandits.counts`; seeding in :mod:`obandits.seeding`.
"""

__version__ = "0.1.0"
