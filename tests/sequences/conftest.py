"""Shared fixtures for the lecture-6 tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run tiny models, which are many times faster on one thread than on several
    (and do not fight other test workers for cores); the previous setting is restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
