"""The data layer: experiment configs, reading and validating labeled files, corpora, and
the fit set (training rows + extra rows, in the terms a model is fit on). Knows nothing of
models, MLflow or the command line."""
