"""MoToRec: discrete semantic codes for catalog items and a cold-start graph recommender."""

__version__ = "0.1.0"
