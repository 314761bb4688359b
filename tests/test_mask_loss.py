"""The box-cropped mask loss equals the dense formula (every positive's full mask, BCE, zeroed outside its box),
value and gradients, including boxes that reach past the grid or cover no pixel centre."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from edgeseg.trainer.mask_loss import cropped_mask_loss  # noqa: E402


def dense_mask_loss(coeffs, protos, targets, target_index, image_index, boxes, areas):
    _, _, h, w = protos.shape
    logits = torch.einsum("pk,pkhw->phw", coeffs, protos[image_index])
    bce = F.binary_cross_entropy_with_logits(logits, targets[target_index], reduction="none")
    x1, y1, x2, y2 = boxes[:, :, None].chunk(4, 1)
    cols = torch.arange(w, dtype=boxes.dtype)[None, None, :]
    rows = torch.arange(h, dtype=boxes.dtype)[None, :, None]
    inside = (cols >= x1) * (cols < x2) * (rows >= y1) * (rows < y2)
    return ((bce * inside).mean(dim=(1, 2)) / areas).sum()


@pytest.mark.parametrize("seed", range(3))
def test_cropped_mask_loss_equals_the_dense_formula(seed):
    g = torch.Generator().manual_seed(seed)
    b, k, h, w, m = 3, 32, 40, 48, 9
    protos = torch.randn(b, k, h, w, generator=g, dtype=torch.float64).to(memory_format=torch.channels_last)
    targets = (torch.rand(m, h, w, generator=g) > 0.6).double()
    image_of_instance = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    xy = torch.rand(m, 2, generator=g, dtype=torch.float64) * torch.tensor([w, h]) * 1.1 - 2
    wh = torch.rand(m, 2, generator=g, dtype=torch.float64) * torch.tensor([w, h]) * 0.7
    instance_boxes = torch.cat([xy, xy + wh], 1)
    instance_boxes[4] = torch.tensor([10.2, 10.2, 10.8, 30.0])  # covers no pixel start: contributes nothing
    target_index = torch.randint(0, m, (60,), generator=g)
    target_index[0] = 4
    image_index, boxes = image_of_instance[target_index], instance_boxes[target_index]
    areas = (wh.prod(1) / (w * h)).clamp(min=1e-9)[target_index]
    coeffs = torch.randn(60, k, generator=g, dtype=torch.float64)
    got_inputs = [coeffs.clone().requires_grad_(), protos.clone().requires_grad_()]
    want_inputs = [coeffs.clone().requires_grad_(), protos.clone().requires_grad_()]
    got = cropped_mask_loss(got_inputs[0], got_inputs[1], targets, target_index, image_index, boxes, areas)
    want = dense_mask_loss(want_inputs[0], want_inputs[1], targets, target_index, image_index, boxes, areas)
    got.backward()
    want.backward()
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-6) and float(want.detach()) > 0
    for a, e in zip(got_inputs, want_inputs):
        torch.testing.assert_close(a.grad.double(), e.grad, rtol=1e-4, atol=1e-7)


def test_no_positive_regions_gives_zero_with_gradients():
    protos = torch.randn(1, 4, 8, 8, requires_grad=True)
    coeffs = torch.randn(2, 4, requires_grad=True)
    boxes = torch.tensor([[3.5, 3.5, 3.9, 3.9]] * 2)  # no pixel inside
    loss = cropped_mask_loss(coeffs, protos, torch.zeros(1, 8, 8), torch.zeros(2, dtype=torch.long),
                             torch.zeros(2, dtype=torch.long), boxes, torch.full((2,), 0.01))
    loss.backward()
    assert float(loss) == 0 and float(coeffs.grad.abs().sum()) == 0
