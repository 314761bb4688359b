"""Test models (see edgeseg.trainer.seeded)."""
from edgeseg.trainer.seeded import make_seeded_model  # noqa: F401

__all__ = ["make_seeded_model"]
