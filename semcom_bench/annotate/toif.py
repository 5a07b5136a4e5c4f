"""Task-oriented instance filtering (InsCom section II-B, eq. 5-7).

Stage 1 keeps triplets whose subject class is in C_T; stage 2 keeps those whose (predicate, object class) is in IR_T.
The task mask is m_sem AND m_ins: pixels whose semantic class is in C_T (eq. 5) inside the boxes of the retained
subjects (eq. 6). Without a semantic map, the retained subjects' own masks stand in for m_sem.
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import name2label

from semcom_bench.annotate.base import Scene, Triplet
from semcom_bench.annotate.patches import box_mask, object_mask
from semcom_bench.tasks import Task


def critical_flags(scene: Scene, triplets: list[Triplet], task: Task) -> list[bool]:
    """For each triplet: is it task-critical (both TOIF stages pass)?"""
    classes = {obj.object_id: obj.class_name for obj in scene.objects}
    return [task.is_critical(classes.get(t.subject_id, ""), t.predicate, t.object_class) for t in triplets]


def task_mask(scene: Scene, triplets: list[Triplet], flags: list[bool], task: Task) -> np.ndarray:
    """``(H, W)`` bool task-critical mask m_T = m_sem AND m_ins of eq. (7)."""
    height, width = scene.height, scene.width
    subjects = {t.subject_id for t, keep in zip(triplets, flags, strict=True) if keep}
    m_ins = np.zeros((height, width), bool)
    for obj in scene.objects:
        if obj.object_id in subjects:
            m_ins |= box_mask(obj.bbox, height, width)
    if scene.semantic is not None:
        ids = [name2label[name].id for name in task.critical_subjects if name in name2label]
        m_sem = np.isin(scene.semantic, ids)
    else:
        m_sem = np.zeros((height, width), bool)
        for obj in scene.objects:
            if obj.object_id in subjects:
                m_sem |= object_mask(obj, height, width)
    return m_sem & m_ins
