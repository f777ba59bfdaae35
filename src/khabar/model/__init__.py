"""The model layer: the scikit-learn Pipeline (normalize -> features -> classifier) and every
estimator in it. Knows nothing of MLflow, report files or the command line."""
