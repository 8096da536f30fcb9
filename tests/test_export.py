"""ONNX export details: single-slope PReLU written as LeakyRelu (the same function, fused by ONNX Runtime)."""

from __future__ import annotations

import pytest
import torch

from conftest import BUNDLES
from microseg.bundle import load_parser
from microseg.export import prelu_as_leaky_relu


def test_single_slope_prelu_becomes_leaky_relu_with_the_same_outputs():
    torch.manual_seed(0)
    network = load_parser(BUNDLES / "fibsem_mitochondria_segmentation").get_parsed_content("network_def").eval()
    for m in network.modules():  # trained slopes differ from the initial 0.25 and from each other
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(-0.3, 0.6)
    channel_wise = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.PReLU(3))
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        reference, reference_cw = network(x), channel_wise(x)
        count = prelu_as_leaky_relu(network)
        assert count == 17 and not any(isinstance(m, torch.nn.PReLU) for m in network.modules())
        assert torch.equal(network(x), reference)
        assert prelu_as_leaky_relu(channel_wise) == 0  # one slope per channel has no LeakyReLU equivalent
        assert torch.equal(channel_wise(x), reference_cw)


def test_the_shipped_fibsem_onnx_file_has_no_prelu():
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(BUNDLES / "fibsem_mitochondria_segmentation" / "models" / "model.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert "LeakyRelu" in ops and "PRelu" not in ops
