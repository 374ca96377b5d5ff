"""The LLM bridge (Spec 3): GRPO with the outcome-based exploration bonuses of Spec 1 on a real
transformers causal LM. Bonuses, answer counts and metrics come from :mod:`obandits`; this
package adds models, tasks, answer extraction and the trainer (torch + transformers)."""
