"""khabar's version: one place, imported by the package root and by the model files."""

__version__ = "0.1.0"
