"""Functions the task YAMLs in this folder name with ``!function utils.…``."""

from unlearnkit.evaluation.dialogue import process_results as dialogue_results  # noqa: F401
