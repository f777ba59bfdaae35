"""The record layer: metrics, MLflow tracking, plots, reports, and model files (skops, the
trust policy, export metadata). Writes down what the runs layer did."""
