"""Detectors: gt (the dataset's instances) and yolo."""
