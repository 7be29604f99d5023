"""Layers shared by the sequence networks: attention pooling over positions and the
attention-pool head (FSei, ConvNet)."""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """Softmax attention pooling over positions: (N, C, L) -> (N, C).

    Each channel gets its own weights over positions, from a learned C x C projection initialised to
    the identity. The batch dimension is always kept, also for a batch of one sequence.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.to_attn_logits = nn.Parameter(torch.eye(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (N, L, C)
        attn = torch.matmul(x, self.to_attn_logits).softmax(dim=1)
        return (x * attn).sum(dim=1)


class AttentionPoolHead(nn.Module):
    """Conv(k) + BN + ReLU, attention pooling over positions, two ReLU/dropout linear layers and
    a linear prediction layer: (N, C, L) -> (N, n_outputs)."""

    def __init__(self, in_channels: int, embed_dim: int, feedforward_dim: int | None,
                 kernel_size: int, n_outputs: int = 2, dropout: float = 0.2):
        super().__init__()
        self.project = nn.Sequential(nn.Conv1d(in_channels, embed_dim, kernel_size),
                                     nn.BatchNorm1d(embed_dim), nn.ReLU())
        self.attention_pool = AttentionPool(embed_dim)
        hidden = []
        widths = [embed_dim, feedforward_dim, embed_dim] if feedforward_dim else [embed_dim] * 2
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            hidden += [nn.Linear(w_in, w_out), nn.ReLU(), nn.Dropout(dropout)]
        self.fcn = nn.Sequential(*hidden)
        self.prediction_head = nn.Linear(embed_dim, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prediction_head(self.fcn(self.attention_pool(self.project(x))))
