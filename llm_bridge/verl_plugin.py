"""Importing this module installs the obandits estimators into verl (docs/verl.md).

Name it in verl's config so that verl imports it in the process that computes advantages (its
Ray actor ``TaskRunner``, for the v1 and the legacy trainer alike)::

    actor_rollout_ref.model.external_lib=llm_bridge.verl_plugin

verl's ``HFModelConfig`` imports ``external_lib`` (``import_external_libs``) when the trainer
reads the model config, before it builds the trainer, loads a checkpoint or computes an
advantage. See :func:`llm_bridge.verl_bonus.install`.
"""

from llm_bridge.verl_bonus import install

install()
