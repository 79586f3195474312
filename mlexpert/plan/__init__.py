"""Task type, metric and split strategy, from the schema, the target and the user's hints."""
from mlexpert.plan._plan import Plan, SplitPlan, infer_task, make_plan, task_finding

__all__ = ["Plan", "SplitPlan", "infer_task", "make_plan", "task_finding"]
