"""Curation: the LLaVA data contract (contract.py, images.py) and quality filters."""
