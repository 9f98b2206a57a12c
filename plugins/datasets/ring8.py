"""PLACEHOLDER: to be written."""
