"""Online dynamics contexts for the controller: outcome-centric (inferred natively from
the last K transitions by the model's context encoder) and parameter-centric oracles."""

from .online import OracleContext, OutcomeContext, RefinedContext

__all__ = ["OracleContext", "OutcomeContext", "RefinedContext"]
