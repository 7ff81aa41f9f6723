"""Training losses for DUSt3R fine-tuning on sparse pointmaps and/or relative poses.

* Pointmap term (as in DUSt3R): both views' points are in camera 1's frame; predicted and ground-truth
  pointmaps are each divided by their mean distance to the origin over the valid pixels of *both* views
  (per pair); ``l`` is the Euclidean distance per valid pixel; ``loss = mean(conf * l - alpha * log conf)``
  over the valid pixels of view 1 plus the same over view 2 (negative values are normal).
* Pose term (optional, needs symmetrised batches): the network's view-2 points in view 2's own frame (from
  the swapped pair) and in view 1's frame are aligned by a confidence-weighted Umeyama fit, giving the
  predicted camera-2-to-camera-1 transform; its error against the ground truth is
  ``||R_pred - R_gt||_F + (1 - cos angle(t_pred, t_gt))`` (scale-free, so it works without depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["normalize_pair", "conf_regression_loss", "weighted_umeyama", "relative_pose_loss", "LossTerms"]


@dataclass(frozen=True)
class LossTerms:
    """Scalar tensors of one batch."""

    total: torch.Tensor
    """What is back-propagated."""
    regression: torch.Tensor
    """Confidence-weighted pointmap term (0 when no pixel is valid)."""
    pose: torch.Tensor
    """Relative-pose term (0 when disabled)."""
    mean_dist: torch.Tensor
    """Mean normalised 3D distance over valid pixels (a readable accuracy figure, not back-propagated)."""


def normalize_pair(p1: torch.Tensor, p2: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor):
    """Divide both pointmaps ``(B, H, W, 3)`` by their mean norm over the valid pixels ``(B, H, W)`` of both
    views, per batch item. Returns ``(p1, p2, scale (B,))``."""
    n1 = (p1.norm(dim=-1) * v1).flatten(1).sum(1)
    n2 = (p2.norm(dim=-1) * v2).flatten(1).sum(1)
    cnt = v1.flatten(1).sum(1) + v2.flatten(1).sum(1)
    s = ((n1 + n2) / cnt.clamp(min=1)).clamp(min=1e-8)
    return p1 / s[:, None, None, None], p2 / s[:, None, None, None], s


def conf_regression_loss(pred1, pred2, conf1, conf2, gt1, gt2, valid1, valid2, alpha: float = 0.2):
    """Confidence-weighted regression. ``pred*``/``gt*`` ``(B, H, W, 3)`` in camera 1's frame, ``conf*``
    ``(B, H, W)`` > 1, ``valid*`` ``(B, H, W)`` bool. Returns ``(loss, mean_distance)`` scalars."""
    v1, v2 = valid1.float(), valid2.float()
    p1, p2, _ = normalize_pair(pred1.float(), pred2.float(), v1, v2)
    g1, g2, _ = normalize_pair(gt1.float(), gt2.float(), v1, v2)
    loss, dist, n = pred1.new_zeros(()), pred1.new_zeros(()), 0
    for p, g, c, m in ((p1, g1, conf1, valid1), (p2, g2, conf2, valid2)):
        if m.any():
            d = (p - g).norm(dim=-1)[m]
            c = c.float()[m]
            loss = loss + (c * d - alpha * torch.log(c)).mean()
            dist, n = dist + d.detach().mean(), n + 1
    return loss, dist / max(n, 1)


def weighted_umeyama(X: torch.Tensor, Y: torch.Tensor, w: torch.Tensor):
    """Batched similarity ``Y ~ s R X + t`` from points ``(B, M, 3)`` and weights ``(B, M)``.
    Returns ``R (B, 3, 3)``, ``t (B, 3)``, ``s (B,)``; differentiable."""
    w = w / w.sum(1, keepdim=True).clamp(min=1e-12)
    mx, my = (w[..., None] * X).sum(1), (w[..., None] * Y).sum(1)
    Xc, Yc = X - mx[:, None], Y - my[:, None]
    cov = torch.einsum("bm,bmi,bmj->bij", w, Yc, Xc)
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(U @ Vh))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = U @ D @ Vh
    var = (w * (Xc**2).sum(-1)).sum(1).clamp(min=1e-12)
    s = (S * D.diagonal(dim1=-2, dim2=-1)).sum(-1) / var
    t = my - s[:, None] * torch.einsum("bij,bj->bi", R, mx)
    return R, t, s


def relative_pose_loss(pts_own, pts_other, conf_own, conf_other, T_gt, max_points: int = 4096):
    """Pose term for one view seen in two frames.

    ``pts_own`` ``(B, H, W, 3)``: the view's points in its own camera (head 1 of the swapped pair);
    ``pts_other`` ``(B, H, W, 3)``: the same pixels in the other camera's frame (head 2 of the pair);
    ``T_gt`` ``(B, 4, 4)``: ground-truth transform from the view's camera to the other camera.
    A fixed random subset of at most ``max_points`` pixels is used. Returns a scalar.
    """
    with torch.autocast(device_type=pts_own.device.type, enabled=False):  # SVD needs fp32
        return _pose_loss(pts_own.float(), pts_other.float(), conf_own.float(), conf_other.float(), T_gt, max_points)


def _pose_loss(pts_own, pts_other, conf_own, conf_other, T_gt, max_points):
    B = pts_own.shape[0]
    X, Y = pts_own.reshape(B, -1, 3), pts_other.reshape(B, -1, 3)
    w = (conf_own.reshape(B, -1) * conf_other.reshape(B, -1)).log1p()
    if X.shape[1] > max_points:
        idx = torch.randperm(X.shape[1], generator=torch.Generator().manual_seed(0))[:max_points].to(X.device)
        X, Y, w = X[:, idx], Y[:, idx], w[:, idx]
    R, t, _ = weighted_umeyama(X, Y, w)
    Rg, tg = T_gt[:, :3, :3].float(), T_gt[:, :3, 3].float()
    rot = (R - Rg).flatten(1).norm(dim=1)
    cos = torch.nn.functional.cosine_similarity(t, tg, dim=1, eps=1e-8)
    has_t = tg.norm(dim=1) > 1e-6  # no direction for a pure rotation
    return (rot + torch.where(has_t, 1 - cos, torch.zeros_like(cos))).mean()
