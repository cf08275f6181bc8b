"""Building a DIS refiner out of a trained IFNet's later blocks."""

from __future__ import annotations

import pytest
import torch

from livefx.models.rife import IFNet, IFNetConfig
from livefx.models.train.train_rife import refiner


def test_the_refiner_keeps_the_later_blocks_weights():
    torch.manual_seed(0)
    source = IFNet(IFNetConfig(channels=(16, 12, 8, 8)))
    net = refiner(source, 2, "dis-fast")
    assert net.config.channels == (8, 8) and net.config.scales == (2.0, 1.0) and net.config.flow_init == "dis-fast"
    for kept, original in ((net.block0, source.block2), (net.block1, source.block3)):
        ours, theirs = kept.state_dict(), original.state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_refiner_needs_a_v4_6_network_and_a_later_block():
    with pytest.raises(ValueError, match="first-block"):
        refiner(IFNet(IFNetConfig(channels=(16, 12, 8, 8))), 0, "dis-fast")
