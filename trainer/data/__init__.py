"""Training data: YOLO-seg datasets, augmentation and batching."""
