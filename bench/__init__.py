"""fimcg's benchmarks: scripts that print tables and write their results to ``bench/results/``.

Run them from the repository root, as scripts or as modules (the same)::

    python bench/fim_accuracy.py --quick
    python -m bench.fim_accuracy --quick

Scripts (each documents its options in ``--help``):

- ``simulate``: ``fimcg.simulate`` against torchsde, and ``render_video``;
- ``fim_accuracy``: the shipped FIM against classic estimators (``peers``: pysindy and
  StochasticForceInference for ``--peers``);
- ``fim_speed``: the FIM's inference time and memory;
- ``fim_cv_penalties``: the penalties of the FIM's cross-validated drift average;
- ``fim_family_settings``: the FIM's family-fit settings, chosen on a development suite
  (``--check``: the shipped config is the committed choice);
- ``fim_model_card``: writes ``fimcg/weights/MODEL_CARD.md``;
- ``coarse_grain``: coarse-graining from video against its baselines.

Shared helpers: ``bench.cases`` (every data set the benchmarks run on), ``bench.errors`` (error
metrics) and ``bench.cli`` (common options, loading the FIM, writing results).
``bench/results/`` holds the current results only; past experiments live in git history.
"""
