"""The study's networks trained from scratch: the Basset-like CNN and the dilated-residual ConvNet.

Input (N, 4, L) one-hot float, output (N, 2) logits (class 1 = retained intron).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from .layers import AttentionPoolHead
from .registry import register_model


@register_model("Basset")
class Basset(nn.Module):
    """The study's Basset-like CNN (architecture block `model_architecture` of json/Basset.json).

    Three Conv1d (no bias) + BatchNorm + ReLU (+ max-pool) layers with dropout 0.2, then
    Linear(FC1inputSize, FC1outputSize) + ReLU + Dropout(0.4), Linear(., FC2outputSize) + ReLU +
    Dropout(0.4), Linear(., 2). Input (N, 4, L), output (N, 2) logits.
    """

    def __init__(self, CNN1filters=200, CNN1filterSize=13, CNN1poolSize=6, CNN1padding=6,
                 CNN2filters=100, CNN2filterSize=5, CNN2poolSize=1, CNN2padding=2,
                 CNN3filters=50, CNN3filterSize=8, CNN3poolSize=2, CNN3padding=4,
                 FC1inputSize=2500, FC1outputSize=800, FC2outputSize=300, numClasses=2,
                 sequence_length=600):
        super().__init__()

        def conv_block(c_in, c_out, size, padding, pool):
            layers = [nn.Conv1d(c_in, c_out, size, padding=padding, bias=False),
                      nn.BatchNorm1d(c_out), nn.ReLU()]
            if pool > 1:
                layers.append(nn.MaxPool1d(pool))
            layers.append(nn.Dropout(0.2))
            return nn.Sequential(*layers)

        self.features = nn.Sequential(
            conv_block(4, CNN1filters, CNN1filterSize, CNN1padding, CNN1poolSize),
            conv_block(CNN1filters, CNN2filters, CNN2filterSize, CNN2padding, CNN2poolSize),
            conv_block(CNN2filters, CNN3filters, CNN3filterSize, CNN3padding, CNN3poolSize),
        )
        flat = self._flattened_size(sequence_length)
        if flat != FC1inputSize:
            raise InputError(
                f"model_architecture.FC1inputSize is {FC1inputSize}, but a {sequence_length} bp "
                f"input leaves {flat} values after the three conv layers: set FC1inputSize to "
                f"{flat}")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(FC1inputSize, FC1outputSize), nn.ReLU(), nn.Dropout(0.4),
            nn.Linear(FC1outputSize, FC2outputSize), nn.ReLU(), nn.Dropout(0.4),
            nn.Linear(FC2outputSize, numClasses),
        )

    def _flattened_size(self, length: int) -> int:
        with torch.no_grad():
            was_training = self.features.training
            self.features.eval()
            size = self.features(torch.zeros(1, 4, length)).numel()
            self.features.train(was_training)
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DilatedResidualBlock(nn.Module):
    """Conv(k=5, dilation d) to `width` + BN + GELU, Conv(k=3) back + BN + dropout."""

    def __init__(self, channels: int, width: int, dilation: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, width, 5, dilation=dilation, padding=2 * dilation, bias=False),
            nn.BatchNorm1d(width), nn.GELU(),
            nn.Conv1d(width, channels, 3, padding=1, bias=False),
            nn.BatchNorm1d(channels), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _length_after_pools(length: int, pools) -> int:
    for size, stride in pools:
        length = (length - size) // stride + 1 if length >= size else 0
    return length


MIN_CONVNET_LENGTH = 424  # smallest input that leaves 5 positions after ConvNet's three pools


@register_model("ConvNet")
class ConvNet(nn.Module):
    """The study's dilated-residual CNN with an attention-pool head.

    Trunk: Conv(4->c0, 11) Conv(c0->c0, 7) GELU MaxPool(16, 8); Conv(c0->c1, 5) BN GELU Drop
    Conv(c1->c1, 7) GELU MaxPool(8, 4); Conv(c1->c2, 5) BN GELU Drop Conv(c2->c2, 7) GELU
    MaxPool(4, 2); Conv(c2->c3, 5) BN GELU Drop, with c = 480, 640, 720, 960. Then dilated
    residual blocks (dilation 2, 4, 8; inner width 1280) wired as in the study: each block's
    output is added to the previous block's output (the trunk's for the first) and passed through
    GELU; then the head Conv(c3->1280, 5) + attention pool + Linear 1280->2048->1280->2.
    """

    def __init__(self, channels=(480, 640, 720, 960), dilations=(2, 4, 8), residual_width=1280,
                 embed_dim=1280, feedforward_dim=2048, dropout=0.2, sequence_length=600):
        super().__init__()
        if _length_after_pools(sequence_length, ((16, 8), (8, 4), (4, 2))) < 5:
            raise InputError(f"ConvNet needs inputs of at least {MIN_CONVNET_LENGTH} bp (its "
                             f"pooling leaves too few positions for the head's 5-wide "
                             f"convolution), but sequence_length is {sequence_length}")
        c0, c1, c2, c3 = channels
        self.trunk = nn.Sequential(
            nn.Conv1d(4, c0, 11, padding=5), nn.Conv1d(c0, c0, 7, padding=3), nn.GELU(),
            nn.MaxPool1d(16, stride=8),
            nn.Conv1d(c0, c1, 5, padding=2, bias=False), nn.BatchNorm1d(c1), nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(c1, c1, 7, padding=3), nn.GELU(), nn.MaxPool1d(8, stride=4),
            nn.Conv1d(c1, c2, 5, padding=2, bias=False), nn.BatchNorm1d(c2), nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(c2, c2, 7, padding=3), nn.GELU(), nn.MaxPool1d(4, stride=2),
            nn.Conv1d(c2, c3, 5, padding=2, bias=False), nn.BatchNorm1d(c3), nn.GELU(),
            nn.Dropout(dropout),
        )
        self.dilated = nn.ModuleList(
            DilatedResidualBlock(c3, residual_width, d, dropout) for d in dilations)
        self.gelu = nn.GELU()
        self.head = AttentionPoolHead(c3, embed_dim, feedforward_dim, kernel_size=5,
                                      dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        previous = hidden = self.trunk(x)
        for block in self.dilated:
            current = block(hidden)
            hidden = self.gelu(current + previous)
            previous = current
        return self.head(hidden)
