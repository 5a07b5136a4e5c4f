"""Annotation: detection, scene graph, importance labelers, patch tiers and task-critical masks, written as a label set."""
