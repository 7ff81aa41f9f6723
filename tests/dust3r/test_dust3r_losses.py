import math

import torch

from dynpose100k.dust3r.losses import conf_regression_loss, relative_pose_loss, weighted_umeyama


def _rot(axis, deg):
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    K = torch.tensor([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], dtype=torch.float64)
    t = math.radians(deg)
    return torch.eye(3, dtype=torch.float64) + math.sin(t) * K + (1 - math.cos(t)) * K @ K


def _maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    gt1, gt2 = torch.randn(2, 8, 12, 3, generator=g) + 3, torch.randn(2, 8, 12, 3, generator=g) + 3
    v1, v2 = torch.rand(2, 8, 12, generator=g) < 0.3, torch.rand(2, 8, 12, generator=g) < 0.3
    return gt1, gt2, v1, v2


def test_regression_is_scale_invariant_and_ignores_invalid_pixels():
    gt1, gt2, v1, v2 = _maps()
    conf = torch.full((2, 8, 12), 2.0)
    loss, dist = conf_regression_loss(5 * gt1, 5 * gt2, conf, conf, gt1, gt2, v1, v2, alpha=0.2)
    assert dist < 1e-6
    assert torch.isclose(loss, torch.tensor(2 * -0.2 * math.log(2.0)), atol=1e-5)  # sum of two views' means
    noisy = gt1 + 0.3 * torch.randn_like(gt1)
    base, _ = conf_regression_loss(noisy, gt2, conf, conf, gt1, gt2, v1, v2)
    changed = noisy.clone()
    changed[~v1] += 100.0
    same, _ = conf_regression_loss(changed, gt2, conf, conf, gt1, gt2, v1, v2)
    assert base > loss and torch.isclose(base, same)


def test_confidence_gradient_trades_error_against_log_term():
    gt1, gt2, v1, v2 = _maps(1)
    conf = torch.full((2, 8, 12), 3.0, requires_grad=True)
    loss, _ = conf_regression_loss(gt1 + 1.0, gt2, conf, conf.detach(), gt1, gt2, v1, v2)
    loss.backward()
    assert (conf.grad[v1] > 0).all()  # large error: lower confidence lowers the loss
    assert (conf.grad[~v1] == 0).all()


def test_weighted_umeyama_recovers_similarity():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 50, 3, generator=g, dtype=torch.float64)
    R = torch.stack([_rot([1, 2, 3], 30), _rot([0, 1, 0], -70)])
    t = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.3, 0.0]], dtype=torch.float64)
    Y = 2.5 * torch.einsum("bij,bmj->bmi", R, X) + t[:, None]
    Rh, th, sh = weighted_umeyama(X, Y, torch.ones(2, 50, dtype=torch.float64))
    assert torch.allclose(Rh, R, atol=1e-8) and torch.allclose(th, t, atol=1e-8)
    assert torch.allclose(sh, torch.full((2,), 2.5, dtype=torch.float64))


def test_relative_pose_loss_zero_at_truth_positive_when_wrong():
    g = torch.Generator().manual_seed(0)
    own = torch.randn(1, 6, 8, 3, generator=g, dtype=torch.float64) + torch.tensor([0, 0, 4.0], dtype=torch.float64)
    T = torch.eye(4, dtype=torch.float64)[None].clone()
    T[0, :3, :3], T[0, :3, 3] = _rot([0, 1, 0], 10), torch.tensor([0.2, 0.0, 0.05])
    other = 0.7 * (torch.einsum("ij,bhwj->bhwi", T[0, :3, :3], own) + T[0, :3, 3])  # any scale
    conf = torch.full((1, 6, 8), 2.0, dtype=torch.float64)
    assert relative_pose_loss(own, other, conf, conf, T) < 1e-6
    wrong = T.clone()
    wrong[0, :3, :3] = _rot([0, 1, 0], -10)
    assert relative_pose_loss(own, other, conf, conf, wrong) > 0.1
