"""The downstream benchmark: segmentation trained on game, translated and real scene renders, scored on real ones.

`run_downstream` runs the whole experiment (see `vidtrans.downstream.experiment`); the pieces are the mini
U-Net (`segnet`), labelled-image loading and augmentation (`data`), and training and IoU scoring (`train`).
"""

from vidtrans.downstream.data import SegmentationData, find_pairs, load_dataset, load_pairs, read_label
from vidtrans.downstream.experiment import (
    REAL_TRAIN_FIRST_SEED,
    TEST_FIRST_SEED,
    TRAIN_FIRST_SEED,
    ConditionResult,
    DownstreamReport,
    DownstreamSettings,
    run_downstream,
)
from vidtrans.downstream.segnet import SegNet, SegNetConfig, build_segnet
from vidtrans.downstream.train import (
    SegmentationScores,
    TrainResult,
    TrainSettings,
    confusion_matrix,
    evaluate,
    scores_from_confusion,
    train_segnet,
)

__all__ = [
    "REAL_TRAIN_FIRST_SEED", "TEST_FIRST_SEED", "TRAIN_FIRST_SEED", "ConditionResult", "DownstreamReport",
    "DownstreamSettings", "SegNet", "SegNetConfig", "SegmentationData", "SegmentationScores", "TrainResult", "TrainSettings", "build_segnet",
    "confusion_matrix", "evaluate", "find_pairs", "load_dataset", "load_pairs", "read_label", "run_downstream",
    "scores_from_confusion", "train_segnet",
]
